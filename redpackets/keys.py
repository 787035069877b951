"""Redis keys of the red-packet app (nobody else reads them). Every key of one campaign shares
the hash tag {<id>}, so each Lua script stays on one Redis Cluster slot."""


def tag(campaign_id: int) -> str:
    return f"{{{campaign_id}}}"


def meta(campaign_id: int) -> str:
    # starts_ms, ends_ms, total, count, left_cents, closed
    return f"rp:{tag(campaign_id)}:meta"


def amounts(campaign_id: int) -> str:
    # The shares not grabbed yet (shuffled at load); LPOP takes one.
    return f"rp:{tag(campaign_id)}:amounts"


def grabbed(campaign_id: int) -> str:
    # user id -> amount; the field "_" is a placeholder that carries the key's expiry.
    return f"rp:{tag(campaign_id)}:grabbed"


def reload_lock(campaign_id: int) -> str:
    """Set while a reload of a campaign Redis lost is asked for (one request per few seconds)."""
    return f"rp:{tag(campaign_id)}:reload"


def queue(campaign_id: int) -> str:
    return f"rp:{tag(campaign_id)}:queue"


def rate(campaign_id: int, user_id: int) -> str:
    return f"rp:{tag(campaign_id)}:rl:{user_id}"


def grab_keys(campaign_id: int, user_id: int) -> list[str]:
    """In the order grab.lua expects them."""
    return [
        meta(campaign_id),
        amounts(campaign_id),
        grabbed(campaign_id),
        queue(campaign_id),
        rate(campaign_id, user_id),
    ]


def campaign_from_queue(queue_key: str) -> int:
    return int(queue_key.split("{", 1)[1].split("}", 1)[0])


# Campaigns loaded in Redis whose queues the drain watches. Never used inside a script, so it
# needs no tag.
ACTIVE = "rp:active"
PLACEHOLDER = b"_"
