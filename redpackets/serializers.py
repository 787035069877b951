"""Output shapes of the red-packet API (for the schema; the selectors build plain dicts)."""

from rest_framework import serializers


class CampaignOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    total_cents = serializers.IntegerField()
    count = serializers.IntegerField()
    split_method = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.CharField()
    state = serializers.ChoiceField(choices=["upcoming", "live", "sold_out", "ended", "closed"])
    remaining_count = serializers.IntegerField(allow_null=True)
    remaining_cents = serializers.IntegerField(allow_null=True)
    grabbed_count = serializers.IntegerField(allow_null=True)
    my_amount_cents = serializers.IntegerField(allow_null=True, required=False)
    balance_cents = serializers.IntegerField(allow_null=True, required=False)


class GrabOut(serializers.Serializer):
    packet_id = serializers.IntegerField()
    title = serializers.CharField()
    amount_cents = serializers.IntegerField()
    grabbed_at = serializers.DateTimeField()


class CampaignListOut(serializers.Serializer):
    results = CampaignOut(many=True)


class GrabListOut(serializers.Serializer):
    results = GrabOut(many=True)
