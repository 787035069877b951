"""Auth API: register, log in (get a bearer token), log out (revoke it)."""

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from project.api import error, json_response
from usercenter import services
from usercenter.auth import bearer_token
from usercenter.serializers import CredentialsIn, RegisterOut, TokenOut


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=CredentialsIn, responses={201: RegisterOut})
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

    @extend_schema(request=CredentialsIn, responses={200: TokenOut})
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
        raw = bearer_token(request._request)
        if raw:
            services.token_revoke(raw=raw)
        return Response(status=status.HTTP_204_NO_CONTENT)


def whoami(request):
    """`GET /api/auth/whoami/`: who the session or token belongs to. Zero SQL on a cache hit."""
    if request.method != "GET":
        return error(405, "Method not allowed.")
    if not request.user.is_authenticated:
        return error(401, "Authentication credentials were not provided.")
    return json_response({"id": request.user.pk, "username": request.user.username})
