"""A tiny URLconf for the router tests: a view that reads, writes, then reads again."""

from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.urls import path

from usercenter.models import ApiToken


def read_only(request):
    return JsonResponse({"db": get_user_model().objects.all().db})


def write_then_read(request):
    before = get_user_model().objects.all().db
    user = get_user_model().objects.order_by("pk").first()
    ApiToken.objects.create(user=user, key_hash=request.GET["h"])
    after = get_user_model().objects.all().db
    return JsonResponse({"before": before, "after": after})


urlpatterns = [path("read/", read_only), path("write/", write_then_read)]
