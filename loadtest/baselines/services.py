"""The hot paths done the obvious way, each correct and as slow as its row lock or database
read allows: what the load harness measures the product against."""

from __future__ import annotations

import uuid

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from orders import services as order_services
from orders.models import Order, Product
from redpackets.models import Campaign, Grab
from redpackets.services import GRAB_KIND, GrabResult
from signin import rules as signin_rules
from signin import services as signin_services
from usercenter import services as usercenter_services

# The grab's answers, worded as the product's.
_NOT_STARTED = "This red packet has not opened yet."
_ENDED = "This red packet has ended."
_SOLD_OUT = "All shares of this red packet are gone."
_ALREADY = "You already grabbed this red packet."
_UNKNOWN = "No such red packet."
_SHARE_SQL = f"SELECT (shares ->> %s)::bigint FROM {Campaign._meta.db_table} WHERE id = %s"


def grab_naive(*, user_id: int, campaign_id: int) -> GrabResult:
    """The grab done in the request, serialized on the campaign row (SELECT ... FOR UPDATE); the
    share is the next of the stored pre-split shares, the wallet is credited in the same
    transaction."""
    with transaction.atomic(using="default"):
        # The lock everyone queues on; the stored shares stay in the database but the one handed out.
        campaign = Campaign.objects.select_for_update().defer("shares").filter(pk=campaign_id).first()
        if campaign is None:
            return GrabResult(404, {"detail": _UNKNOWN})
        now = timezone.now()
        if now < campaign.starts_at:
            return GrabResult(425, {"detail": _NOT_STARTED, "starts_at": campaign.starts_at.isoformat()})
        prev = (
            Grab.objects.filter(campaign_id=campaign_id, user_id=user_id).values_list("amount_cents", flat=True).first()
        )
        if prev is not None:
            return GrabResult(409, {"detail": _ALREADY, "amount_cents": prev, "packet_id": campaign_id})
        if campaign.status == Campaign.Status.CLOSED or now >= campaign.ends_at:
            return GrabResult(410, {"detail": _ENDED, "reason": "ended", "packet_id": campaign_id})
        taken = Grab.objects.filter(campaign_id=campaign_id).count()
        if taken >= campaign.count:
            return GrabResult(410, {"detail": _SOLD_OUT, "reason": "sold_out", "packet_id": campaign_id})
        cursor = connections["default"].cursor()
        cursor.execute(_SHARE_SQL, [taken, campaign_id])
        amount = int(cursor.fetchone()[0])
        Grab.objects.create(campaign_id=campaign_id, user_id=user_id, amount_cents=amount, grabbed_at=now)
        usercenter_services.wallet_credit(
            user_id=user_id, kind=GRAB_KIND, reference=f"rp:{campaign_id}:{user_id}", amount_cents=amount
        )
        transaction.on_commit(
            lambda: usercenter_services.user_fields_invalidate(user_id=user_id, group="grabs"), using="default"
        )
    return GrabResult(200, {"amount_cents": amount, "packet_id": campaign_id})


def flash_buy_naive(*, user_id: int, product_id: int, quantity: int = 1) -> dict:
    """The whole flash buy in the request, serialized on the product row (SELECT ... FOR UPDATE)."""
    with transaction.atomic(using="default"):
        product = Product.objects.select_for_update().filter(pk=product_id, is_active=True).first()
        if product is None or not product.is_flash:
            raise order_services.NotAFlashProduct("No flash sale for this product.")
        state = product.flash_state()
        if state == "upcoming":
            raise order_services.FlashNotStarted("The sale has not started yet.")
        if state == "ended":
            raise order_services.FlashEnded("The sale has ended.")
        bought = sum(
            Order.objects.filter(user_id=user_id, product_id=product_id, source=Order.Source.FLASH).values_list(
                "quantity", flat=True
            )
        )
        if bought + quantity > product.flash_per_user_limit:
            raise order_services.FlashLimitReached("You have reached the per-user limit for this sale.", bought=bought)
        if product.stock < quantity:
            raise order_services.FlashSoldOut("Sold out.")
        Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)
        order = Order.objects.create(
            user_id=user_id,
            product_id=product_id,
            quantity=quantity,
            amount_cents=product.price_cents * quantity,
            source=Order.Source.FLASH,
            token=f"naive-{uuid.uuid4().hex}",
        )
        # The same after-commit cache drops as every other order write.
        order_services.orders_imported(user_ids=[user_id])
    return {"id": order.pk, "product_id": product_id, "quantity": quantity, "amount_cents": order.amount_cents}


def signin_naive(*, user_id: int) -> dict:
    """The sign-in without its Redis check: the database transaction every time."""
    return signin_services.signin_record(user_id=user_id, day=signin_rules.today())
