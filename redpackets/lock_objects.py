"""Every row lock the red-packet app takes, in one place: querysets for use inside `atomic`."""

from django.db.models import QuerySet

from redpackets.models import Campaign


def campaign_for_update(campaign_id: int) -> QuerySet[Campaign]:
    return Campaign.objects.using("default").select_for_update().filter(pk=campaign_id)
