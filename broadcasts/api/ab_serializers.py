"""Shapes of A/B tests (SPEC §8 "Campaigns"; docs/broadcasts.md, "A/B tests"): the create body's
`variants` and `ab_test` (checked by broadcasts/ab_fields.py), the broadcast's test and each
variant's results, and the precheck's breakdown by variant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from broadcasts.ab_fields import METRICS
from broadcasts.ab_results import variant_results
from broadcasts.models import Broadcast

AB_FIELDS = ["variants", "ab_test", "ab_status", "ab_decide_at", "ab_winner", "variant_stats"]


class VariantSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(required=False, help_text="This variant's text (or template).")
    template = serializers.CharField(required=False, help_text="An approved template's name (or text).")
    share = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        coerce_to_string=False,
        help_text="Percent of the audience this variant's sample gets (above 0, two decimals at most); the shares "
        "add up to at most 100.",
    )


class ABTestSerializer(serializers.Serializer[Any]):
    metric = serializers.ChoiceField(
        choices=list(METRICS),
        help_text="clicks (recipients who clicked ÷ sent; needs track_links), replies (recipients who replied ÷ "
        "sent; needs with_replies) or delivered (delivered or read ÷ sent).",
    )
    decide_after = serializers.CharField(
        help_text="ISO 8601 duration after the start (PT4H, P1DT12H; days, hours, minutes, seconds), from PT1M to "
        "P30D: then the variant with the highest rate (ties: the first) goes to the rest."
    )


def variant_stats(broadcast: Broadcast) -> list[dict[str, Any]]:
    """Each sample's figures, then the rest's (with a test); [] without variants (no query)."""
    if not broadcast.variants or broadcast._state.adding:
        return []
    metric = (broadcast.ab_test or {}).get("metric", "")
    results = variant_results(broadcast_id=broadcast.pk, variants=len(broadcast.variants))
    rows = [results[index].as_dict(metric) for index in range(len(broadcast.variants))]
    return rows + ([results[None].as_dict(metric)] if broadcast.ab_test else [])


class VariantResultSerializer(serializers.Serializer[Any]):
    variant = serializers.IntegerField(
        allow_null=True, help_text="The variant's index in `variants`; null: the rest (sent the winner)."
    )
    recipients = serializers.IntegerField(help_text="Messages planned (skipped ones apart).")
    sent = serializers.IntegerField(help_text="Messages that left Herald.")
    delivered = serializers.IntegerField(help_text="Delivered or read.")
    clicks = serializers.IntegerField(help_text="Recipients with a click.")
    replies = serializers.IntegerField(help_text="Recipients who replied.")
    rate = serializers.FloatField(allow_null=True, help_text="By the test's metric, ÷ sent; null without a test.")
    cost = serializers.CharField(help_text="Charged so far, in the wallet's currency.")


class ABBroadcastFields(serializers.Serializer[Broadcast]):
    """A/B fields of the broadcast (mixed into BroadcastSerializer)."""

    variants = VariantSerializer(
        many=True, read_only=True, help_text="An A/B test's variants as asked ([] for other broadcasts)."
    )
    ab_test = ABTestSerializer(
        read_only=True, allow_null=True, help_text="{metric, decide_after}; null without a decision."
    )
    ab_status = serializers.SerializerMethodField(
        help_text="testing (samples sent, waiting for the decision), decided, split (shares summing to 100: every "
        "variant stands alone); null for other broadcasts."
    )
    ab_decide_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the test is (or was) decided."
    )
    ab_winner = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The winning variant's index once decided."
    )
    variant_stats = serializers.SerializerMethodField(
        help_text="Each variant's sample, then the rest (variant null) when there is one: recipients, sent, "
        "delivered, clicks, replies, rate by the metric, cost. [] for other broadcasts."
    )

    def get_ab_status(self, obj: Broadcast) -> str | None:
        return obj.ab_status or None

    @extend_schema_field(VariantResultSerializer(many=True))
    def get_variant_stats(self, obj: Broadcast) -> list[dict[str, Any]]:
        return variant_stats(obj)


class ABPrecheckGroupSerializer(serializers.Serializer[Any]):
    variant = serializers.IntegerField(required=False)
    share = serializers.FloatField(required=False)
    recipients = serializers.IntegerField()
    segments = serializers.IntegerField()
    cost = serializers.CharField()


class ABPrecheckFields(serializers.Serializer[Any]):
    """A/B fields of the precheck (mixed into PrecheckSerializer)."""

    ab_test = ABTestSerializer(required=False, allow_null=True)
    variants = ABPrecheckGroupSerializer(
        many=True, required=False, help_text="With variants: each sample, priced at its own variant."
    )
    rest = ABPrecheckGroupSerializer(
        required=False,
        allow_null=True,
        help_text="With an ab_test: the rest, priced at its costliest variant per recipient (what is reserved; the "
        "difference goes back when the winner is cheaper).",
    )


class ABCreateFields(serializers.Serializer[Any]):
    """A/B fields of the create body (mixed into BroadcastCreateSerializer)."""

    variants = serializers.ListField(
        child=VariantSerializer(),
        required=False,
        min_length=2,
        max_length=5,
        help_text="An A/B test: 2–5 variants, each its own text or template and share; no top-level text or "
        "template then. Shares summing to 100: every variant stands alone.",
    )
    ab_test = ABTestSerializer(required=False, help_text="Required when the shares add up to less than 100.")
