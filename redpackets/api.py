"""Red-packet JSON API. The grab is a plain function view (the hot path: one Lua call, no SQL,
no DRF machinery); the read endpoints are DRF views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from project.api import endpoint, json_response, redis_down
from project.openapi import errors
from project.redis import RedisUnavailable
from redpackets import selectors, services
from redpackets.serializers import CampaignListOut, CampaignOut, GrabListOut


@endpoint("POST")
def grab(request, campaign_id: int):
    """`POST /api/redpackets/<id>/grab/`: 200 {amount_cents, packet_id}, 409 already grabbed
    (with the amount), 410 sold out / ended, 425 not started, 404 unknown, 429 throttled,
    503 Redis down. The Grab row and the wallet credit are written by the queue drain."""
    try:
        result = services.grab(user_id=request.user.pk, campaign_id=campaign_id)
    except RedisUnavailable:
        return redis_down("Red packets are")
    return json_response(result.body, status=result.status, headers=result.headers)


class CampaignListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="redpackets_list", responses={200: CampaignListOut})
    def get(self, request):
        return Response({"results": selectors.campaign_list()})


class CampaignDetailApi(APIView):
    """One campaign with what is left (from Redis); for a signed-in user also their grab."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="redpackets_retrieve", responses={200: CampaignOut, **errors(404)})
    def get(self, request, campaign_id: int):
        campaign = selectors.campaign_detail(campaign_id=campaign_id)
        if campaign is None:
            return Response({"detail": "No such red packet."}, status=404)
        if request.user.is_authenticated:
            campaign["my_amount_cents"] = selectors.my_grab(campaign_id=campaign_id, user_id=request.user.pk)
            campaign["balance_cents"] = selectors.user_balance(user_id=request.user.pk)
        return Response(campaign)


class MyGrabsApi(APIView):
    @extend_schema(operation_id="redpackets_mine", responses={200: GrabListOut})
    def get(self, request):
        return Response({"results": selectors.user_grabs(user_id=request.user.pk)})
