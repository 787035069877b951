"""Reads of the user center."""

from usercenter.models import Wallet


def wallet_get(*, user_id: int) -> dict:
    """Balance and points from the database (the router picks replica or primary)."""
    row = Wallet.objects.filter(user_id=user_id).values("balance_cents", "points", "version").first()
    return row or {"balance_cents": 0, "points": 0, "version": 0}
