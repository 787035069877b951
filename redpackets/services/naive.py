"""The load harness's naive grab baseline (leaves the product with the bench's own app)."""

from __future__ import annotations

from django.db import connections, transaction
from django.utils import timezone

from project.sql import table
from redpackets import lock_objects
from redpackets.models import Campaign, Grab
from redpackets.services.grabbing import ALREADY, ENDED, NOT_STARTED, SOLD_OUT, UNKNOWN, GrabResult
from redpackets.services.sale import GRAB_KIND, USER_HASH_FIELDS
from usercenter import services as usercenter_services


def grab_naive(*, user_id: int, campaign_id: int) -> GrabResult:
    """The load harness's baseline: the grab done in the request, serialized on the campaign row
    (SELECT ... FOR UPDATE); the share is the next of the stored pre-split shares, the wallet is
    credited in the same transaction. Correct, and as slow as one row lock allows."""
    with transaction.atomic(using="default"):
        # The lock everyone queues on. The stored shares (up to MAX_COUNT of them) stay in the
        # database: the baseline reads just the one it hands out.
        campaign = lock_objects.campaign_for_update(campaign_id).defer("shares").first()
        if campaign is None:
            return GrabResult(404, {"detail": UNKNOWN})
        now = timezone.now()
        if now < campaign.starts_at:
            return GrabResult(425, {"detail": NOT_STARTED, "starts_at": campaign.starts_at.isoformat()})
        prev = (
            Grab.objects.filter(campaign_id=campaign_id, user_id=user_id).values_list("amount_cents", flat=True).first()
        )
        if prev is not None:
            return GrabResult(409, {"detail": ALREADY, "amount_cents": prev, "packet_id": campaign_id})
        if campaign.status == Campaign.Status.CLOSED or now >= campaign.ends_at:
            return GrabResult(410, {"detail": ENDED, "reason": "ended", "packet_id": campaign_id})
        taken = Grab.objects.filter(campaign_id=campaign_id).count()
        if taken >= campaign.count:
            return GrabResult(410, {"detail": SOLD_OUT, "reason": "sold_out", "packet_id": campaign_id})
        cursor = connections["default"].cursor()
        share_sql = f"SELECT (shares ->> %s)::bigint FROM {table(Campaign)} WHERE id = %s"
        cursor.execute(share_sql, [taken, campaign_id])
        amount = int(cursor.fetchone()[0])
        Grab.objects.create(campaign_id=campaign_id, user_id=user_id, amount_cents=amount, grabbed_at=now)
        usercenter_services.wallet_credit(
            user_id=user_id, kind=GRAB_KIND, reference=f"rp:{campaign_id}:{user_id}", amount_cents=amount
        )
        transaction.on_commit(
            lambda: usercenter_services.user_hash_forget(user_id=user_id, fields=USER_HASH_FIELDS), using="default"
        )
    return GrabResult(200, {"amount_cents": amount, "packet_id": campaign_id})
