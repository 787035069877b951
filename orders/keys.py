"""Redis keys of the orders app (nobody else reads them). Keys of one flash sale share the hash
tag {p<id>} and keys of one user's order list share {<uid>}, so each Lua script stays on one slot."""


def page1_key(user_id: int) -> str:
    return f"orders:{{{user_id}}}:p1"


def page1_gen_key(user_id: int) -> str:
    # Bumped by every invalidation: a fill that read the DB before a write cannot store its
    # (older) page after that write's invalidation.
    return f"orders:{{{user_id}}}:gen"


def flash_tag(product_id: int) -> str:
    return f"{{p{product_id}}}"


def flash_meta(product_id: int) -> str:
    return f"flash:{flash_tag(product_id)}:meta"


def flash_stock(product_id: int) -> str:
    return f"flash:{flash_tag(product_id)}:stock"


def flash_bought(product_id: int) -> str:
    return f"flash:{flash_tag(product_id)}:bought"


def flash_queue(product_id: int) -> str:
    return f"flash:{flash_tag(product_id)}:queue"


def flash_status(product_id: int) -> str:
    return f"flash:{flash_tag(product_id)}:status"


def flash_reload_lock(product_id: int) -> str:
    """Set while a reload of a live sale Redis lost is asked for (one request per few seconds)."""
    return f"flash:{flash_tag(product_id)}:reload"


def flash_keys(product_id: int) -> list[str]:
    """In the order flash_buy.lua expects them."""
    return [
        flash_meta(product_id),
        flash_stock(product_id),
        flash_bought(product_id),
        flash_queue(product_id),
        flash_status(product_id),
    ]


# Products whose sale is loaded in Redis: the queue family drains their queues. Never used
# inside a script, so it needs no tag.
FLASH_ACTIVE = "flash:active"
