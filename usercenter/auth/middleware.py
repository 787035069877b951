"""`Authorization: Bearer` for every view: the middleware (plain Django hot paths) and its DRF
authentication class."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils.functional import SimpleLazyObject
from rest_framework import authentication, exceptions

from usercenter.auth.revocation import verify_token
from usercenter.auth.users import cached_user

logger = logging.getLogger(__name__)


def bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class TokenUser(SimpleLazyObject):
    """`request.user` for a verified token: `pk`/`id` and `is_authenticated` without any I/O,
    every other attribute loads the user (process copy, Redis, database). A user deleted or
    deactivated while Redis could not hear of it is refused (403) when a view loads it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: int):
        def load():
            user = cached_user(user_id)
            if user is None or not user.is_active:
                raise PermissionDenied("This account no longer exists or is disabled.")
            return user

        super().__init__(load)
        self.__dict__["_token_user_id"] = user_id

    @property
    def pk(self) -> int:
        return self.__dict__["_token_user_id"]

    id = pk


class BearerTokenMiddleware:
    """Resolves `Authorization: Bearer` for every view (plain Django hot paths and DRF alike)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Tokens are the API's credential: the admin (and its control room) is for staff who log
        # in through its form, where CSRF protection applies.
        raw = None if request.path_info.startswith("/admin/") else bearer_token(request)
        if raw is not None:
            try:
                user_id = verify_token(raw)
            except DatabaseError:
                logger.warning("token check failed: Redis and the primary are both unreachable")
                return JsonResponse(
                    {"detail": "Sign-in is temporarily unavailable. Please retry shortly."},
                    status=503,
                    headers={"Retry-After": "5"},
                )
            if user_id is None:
                return JsonResponse(
                    {"detail": "Invalid or expired token."},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="api"'},
                )
            request.user = TokenUser(user_id)
            request.surge_token_user_id = user_id
            # Token clients send no cookies, so there is no cross-site request to forge.
            request._dont_enforce_csrf_checks = True  # noqa: SLF001  the flag Django's CSRF middleware reads
        return self.get_response(request)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF side of the middleware above (which already checked the token)."""

    def authenticate(self, request):
        django_request = request._request  # noqa: SLF001  DRF's documented handle on the HttpRequest
        if getattr(django_request, "surge_token_user_id", None):
            return (django_request.user, None)
        if bearer_token(django_request) is not None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
