"""Orders pages: product list, product page (Buy / flash countdown), My orders, order status."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from orders import selectors
from orders.api import parse_page


def _with_dates(items: list[dict], *fields: str) -> list[dict]:
    """The selectors give JSON-able dicts; templates want datetimes to format."""
    out = []
    for item in items:
        item = dict(item)
        for f in fields:
            if item.get(f):
                item[f] = datetime.fromisoformat(item[f])
        out.append(item)
    return out


def product_list(request):
    page = parse_page(request.GET.get("page"))
    if page is None:
        raise Http404("No such page.")
    try:
        data = selectors.product_page(page=page)
    except selectors.PageNotFound as exc:
        raise Http404(str(exc)) from exc
    products = _with_dates(data["results"], "flash_starts_at", "flash_ends_at")
    return render(request, "orders/product_list.html", {"products": products, "data": data})


def product_detail(request, product_id: int):
    product = selectors.product_detail(product_id=product_id)
    if product is None:
        raise Http404("No such product.")
    remaining = selectors.flash_remaining(product_id=product_id) if product["is_flash"] else None
    return render(
        request,
        "orders/product_detail.html",
        {
            "product": _with_dates([product], "flash_starts_at", "flash_ends_at")[0],
            "raw": product,
            "flash_remaining": remaining,
        },
    )


@login_required
def my_orders(request):
    page = parse_page(request.GET.get("page"))
    if page is None:
        raise Http404("No such page.")
    try:
        data = selectors.order_page(user_id=request.user.pk, page=page)
    except selectors.PageNotFound as exc:
        raise Http404(str(exc)) from exc
    return render(
        request, "orders/my_orders.html", {"orders": _with_dates(data["results"], "created_at"), "data": data}
    )


@login_required
def order_status(request, token: str):
    status = selectors.flash_token_status(token=token, user_id=request.user.pk)
    if status is None:
        raise Http404("Unknown order token.")
    return render(request, "orders/order_status.html", {"token": token, "status": status})
