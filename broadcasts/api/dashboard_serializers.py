"""The shape of GET /api/v1/broadcasts/dashboard/ (SPEC §8): totals and a row per broadcast."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .ab_serializers import VariantResultSerializer


class DashboardRowSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    read = serializers.IntegerField()
    failed = serializers.IntegerField()
    clicks = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()
    ctr = serializers.FloatField(help_text="unique_clicks ÷ sent.")
    delivery_rate = serializers.FloatField()
    cost = serializers.CharField()
    created_at = serializers.DateTimeField()
    variants = VariantResultSerializer(
        many=True, help_text="An A/B test's figures per variant, then the rest (variant null); [] for others."
    )


class DashboardTotalsSerializer(serializers.Serializer[Any]):
    broadcasts = serializers.IntegerField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    read = serializers.IntegerField()
    failed = serializers.IntegerField()
    clicks = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()
    ctr = serializers.FloatField(help_text="unique_clicks ÷ sent.")
    delivery_rate = serializers.FloatField()
    cost = serializers.CharField()


class DashboardSerializer(serializers.Serializer[Any]):
    """GET /broadcasts/dashboard/: totals over the period's newest broadcasts, and one row each."""

    totals = DashboardTotalsSerializer()
    results = DashboardRowSerializer(many=True)
