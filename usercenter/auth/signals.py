"""Signals keep the user cache and the revocation record in step with the rows, whoever changes
them (services, the admin, cascades); business rules live in services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_delete

from usercenter.auth.revocation import record_revocation
from usercenter.auth.users import invalidate_user


def _user_changed(sender, instance, **kwargs):
    invalidate_user(instance.pk)
    if kwargs.get("signal") is post_save and not instance.is_active:
        # A deactivated user's tokens stop working everywhere (signing in again needs an
        # active account, so reactivating does not bring them back).
        from usercenter.models import ApiToken

        ApiToken.objects.filter(user_id=instance.pk).delete()


def connect_signals() -> None:
    # Signals only keep caches and the revocation record in step with the rows, whoever changes
    # them (services, the admin, cascades); business rules live in services.
    from usercenter.models import ApiToken

    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="usercenter_user_cache_save")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="usercenter_user_cache_delete")
    pre_delete.connect(record_revocation, sender=ApiToken, dispatch_uid="usercenter_token_revocation")
