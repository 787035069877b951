"""Redis keys of the user center. The `{uid}` hash tag keeps a user's keys in one slot."""


def user_hash_key(user_id: int) -> str:
    """The per-user hash behind `/api/me/`: one field group per app (see usercenter.registry)."""
    return f"user:{{{user_id}}}"


def user_hash_wallet_mark_key(user_id: int) -> str:
    """The newest wallet version a refresh could not write (hash missing); see the Lua script."""
    return f"user:{{{user_id}}}:wv"


HOME_REBUILD_PENDING_KEY = "home:rebuild:pending"
HOME_REBUILD_INFO_KEY = "home:rebuild:info"
