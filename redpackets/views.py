"""Red-packet pages: the campaign list and a campaign page (countdown, Grab button, live
remaining count, the user's grabs and balance)."""

from datetime import datetime

from django.http import Http404
from django.shortcuts import render

from redpackets import selectors


def _dates(item: dict) -> dict:
    item = dict(item)
    for f in ("starts_at", "ends_at", "grabbed_at"):
        if item.get(f):
            item[f] = datetime.fromisoformat(item[f])
    return item


def campaign_list(request):
    campaigns = selectors.campaign_list()
    return render(
        request,
        "redpackets/campaign_list.html",
        {"campaigns": [{**_dates(c), "raw_starts": c["starts_at"], "raw_ends": c["ends_at"]} for c in campaigns]},
    )


def campaign_page(request, campaign_id: int):
    campaign = selectors.campaign_detail(campaign_id=campaign_id)
    if campaign is None:
        raise Http404("No such red packet.")
    ctx = {"campaign": _dates(campaign), "raw": campaign, "mine": [], "my_amount": None, "balance_cents": None}
    if request.user.is_authenticated:
        uid = request.user.pk
        ctx["my_amount"] = selectors.my_grab(campaign_id=campaign_id, user_id=uid)
        ctx["mine"] = [_dates(g) for g in selectors.user_grabs(user_id=uid, limit=20)]
        ctx["balance_cents"] = selectors.user_balance(user_id=uid)
    return render(request, "redpackets/campaign_detail.html", ctx)
