"""Thin Celery tasks: they call services with ids."""

from celery import shared_task

from project.redis import RedisUnavailable
from redpackets import services


@shared_task(name="redpackets.tasks.expire_due", acks_late=True, ignore_result=True)
def expire_due():
    try:
        return [r["campaign_id"] for r in services.campaigns_expire_due()]
    except RedisUnavailable:
        return []  # the next beat tick retries; nothing was half done


@shared_task(name="redpackets.tasks.reconcile_active", acks_late=True, ignore_result=True)
def reconcile_active():
    try:
        reports = services.campaigns_reconcile_active(fix=True)
    except RedisUnavailable:
        return {}
    return {r["campaign_id"]: r["ok"] for r in reports}


@shared_task(name="redpackets.tasks.campaign_close", acks_late=True, ignore_result=True)
def campaign_close(campaign_id: int):
    return services.campaign_close(campaign_id=campaign_id)


@shared_task(name="redpackets.tasks.reload_missing", acks_late=True, ignore_result=True)
def reload_missing():
    try:
        return services.campaigns_reload_missing()
    except RedisUnavailable:
        return []  # Redis still down: the next beat tick tries again


@shared_task(name="redpackets.tasks.reload_campaign", acks_late=True, ignore_result=True)
def reload_campaign(campaign_id: int):
    try:
        return services.campaign_open(campaign_id=campaign_id)["shares_left"]
    except (RedisUnavailable, services.CampaignError):
        return None  # beat's reload_missing covers it
