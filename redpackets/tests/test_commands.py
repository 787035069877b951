"""`manage.py redpackets create | open | close | status | reconcile`."""

import pytest
from django.core.management import CommandError, call_command

from project.redis import get_redis
from redpackets import keys, services
from redpackets.models import Campaign
from redpackets.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("redpackets", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_create_prints_the_new_id_and_opens_it(make_user):
    owner = make_user("boss")
    out = run(
        "create", "--total-cents", "5000", "--count", "7", "--starts-in", "30", "--duration", "600",
        "--split", "line_cut", "--title", "Ops packet", "--owner", "boss",
    )  # fmt: skip
    campaign = Campaign.objects.get(pk=int(out.strip()))
    assert (campaign.title, campaign.total_cents, campaign.count, campaign.split_method) == (
        "Ops packet", 5000, 7, "line_cut",
    )  # fmt: skip
    assert campaign.owner_id == owner.pk and campaign.status == "open"
    assert sum(campaign.shares) == 5000 and len(campaign.shares) == 7
    assert get_redis().llen(keys.amounts(campaign.pk)) == 7


def test_create_draft_then_open_then_status_then_close(make_user):
    make_user("owner")
    cid = int(run("create", "--total-cents", "100", "--count", "3", "--duration", "60", "--draft", "--owner", "owner"))
    assert Campaign.objects.get(pk=cid).status == "draft"
    assert "loaded: 3 shares left" in run("open", str(cid))
    assert "already loaded" in run("open", str(cid))
    services.grab(user_id=make_user("g").pk, campaign_id=cid)
    status = run("status", str(cid))
    assert "shares left: 2" in status and "queue depth: 1" in status and "persisted grabs: 0" in status
    out = run("close", str(cid))
    assert "closed; refunded" in out
    assert "was already closed" in run("close", str(cid))


@pytest.mark.parametrize(
    "args",
    [
        ["create", "--total-cents", "2", "--count", "3", "--duration", "60"],
        ["create", "--total-cents", "x", "--count", "3", "--duration", "60"],
        ["create", "--total-cents", "10", "--count", "3", "--duration", "60", "--owner", "nobody"],
        ["status", "424242"],
        ["open", "424242"],
    ],
)
def test_bad_input_is_a_clear_command_error(args):
    with pytest.raises(CommandError):
        run(*args)


def test_a_closed_campaign_cannot_be_opened_again():
    campaign = make_campaign()
    run("close", str(campaign.pk))
    with pytest.raises(CommandError, match="closed"):
        run("open", str(campaign.pk))


def test_reconcile_without_id_covers_open_campaigns():
    a, b = make_campaign(), make_campaign()
    out = run("reconcile")
    assert f"campaign {a.pk}: ok" in out and f"campaign {b.pk}: ok" in out


def test_open_reloads_a_campaign_redis_lost_without_the_grabs_already_persisted(make_user):
    from project.queue import ReliableQueue

    campaign = make_campaign(total=1000, count=5)
    users = [make_user(f"l{i}") for i in range(2)]
    for u in users:
        services.grab(user_id=u.pk, campaign_id=campaign.pk)
    ReliableQueue(keys.queue(campaign.pk)).consume(services.grab_record_batch)
    get_redis().flushdb()
    assert "loaded: 3 shares left" in run("open", str(campaign.pk))
    assert services.grab(user_id=users[0].pk, campaign_id=campaign.pk).status == 409
    assert services.campaign_reconcile(campaign_id=campaign.pk)["ok"]
