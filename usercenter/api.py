"""Auth API (register, log in, log out), the user center (`/api/me/`) and the home document."""

import json

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from project.api import endpoint, error, json_response, page_param
from project.openapi import BAD_REQUEST, errors
from usercenter import selectors, services
from usercenter.auth import bearer_token
from usercenter.serializers import CredentialsIn, RegisterOut, TokenOut


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=CredentialsIn, responses={201: RegisterOut, 400: BAD_REQUEST, **errors(415, 429)})
    def post(self, request):
        data = CredentialsIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_register(**data.validated_data)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        token = services.token_issue(user_id=user.pk, name="register")
        return Response(RegisterOut({"id": user.pk, "username": user.username, "token": token}).data, status=201)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=CredentialsIn, responses={200: TokenOut, 400: BAD_REQUEST, **errors(415, 429)})
    def post(self, request):
        data = CredentialsIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            return Response({"detail": "Wrong username or password."}, status=status.HTTP_400_BAD_REQUEST)
        token = services.token_issue(user_id=user.pk, name="login")
        return Response(TokenOut({"token": token}).data)


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        raw = bearer_token(request._request)  # noqa: SLF001  DRF's documented handle on the HttpRequest
        if raw:
            services.token_revoke(raw=raw)
        return Response(status=status.HTTP_204_NO_CONTENT)


@endpoint("GET")
def whoami(request):
    """`GET /api/auth/whoami/`: who the session or token belongs to. Zero SQL on a cache hit."""
    return json_response({"id": request.user.pk, "username": request.user.username})


# ---------------------------------------------------------------- the user center (hot path)


def _me_patch(request):
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return error(400, "The body must be a JSON object.")
    if not isinstance(body, dict) or not body:
        return error(400, "Send a JSON object with nickname, avatar and/or bio.")
    unknown = sorted(set(body) - set(services.PROFILE_FIELDS))
    if unknown:  # checked here too: a key named like an argument ("user_id") must not reach the call
        return json_response({name: ["This field cannot be changed here."] for name in unknown}, status=400)
    try:
        services.profile_update(user_id=request.user.pk, **body)
    except ValidationError as exc:
        return json_response(exc.message_dict, status=400)
    return json_response(selectors.me_get(user_id=request.user.pk))


@endpoint("GET", "PATCH")
def me(request):
    """`GET /api/me/`: the per-user Redis hash (zero SQL on a hit). `PATCH`: edit the profile."""
    if request.method == "PATCH":
        return _me_patch(request)
    try:
        return json_response(selectors.me_get(user_id=request.user.pk))
    except selectors.UserNotFound:
        return error(404, "No such user.")


@endpoint("GET")
def me_ledger(request):
    """`GET /api/me/ledger/?page=N`: the user's ledger, newest first, from the database."""
    page = page_param(request, max_page=selectors.LEDGER_MAX_PAGE)
    if page is None:
        return error(400, f"page must be a whole number from 1 to {selectors.LEDGER_MAX_PAGE}.")
    try:
        return json_response(selectors.ledger_page(user_id=request.user.pk, page=page))
    except selectors.PageNotFound as exc:
        return error(404, str(exc))


@endpoint("GET", auth=False)
def home(request):
    """`GET /api/home/`: the shared home document; an L1 hit costs no SQL and no Redis call.
    The same JSON is published to the CDN as `home.json`."""
    return HttpResponse(selectors.home_document_json(), content_type="application/json")
