"""An A/B test's figures per variant (SPEC §8: stats, the detail and the dashboard break down by
variant), and the decision rule: the rate of each sample by the test's metric, the highest wins,
ties go to the first.

Counted from the broadcast's messages (one grouped query on its index), unlike the broadcast's
counters: a variant is a slice those do not keep. Rates, per message that left (`sent`):
delivered — delivered or read; clicks — recipients with a click; replies — recipients who replied
(a reply attributed to the broadcast, from the message's URN or contact, as follow-ups read it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum

from wallets.pricing import money

from .models import Message, Reply
from .states import LEFT_STATUSES

M = Message.Status
REST = None  # the messages of no sample: the rest, which gets the winner


@dataclass(frozen=True)
class VariantResult:
    variant: int | None  # None: the rest
    recipients: int = 0
    sent: int = 0
    delivered: int = 0
    clicks: int = 0
    replies: int = 0
    cost: Decimal = Decimal(0)

    def rate(self, metric: str) -> float:
        hits = {"delivered": self.delivered, "clicks": self.clicks, "replies": self.replies}.get(metric, 0)
        return round(hits / self.sent, 6) if self.sent else 0.0

    def as_dict(self, metric: str) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "recipients": self.recipients,
            "sent": self.sent,
            "delivered": self.delivered,
            "clicks": self.clicks,
            "replies": self.replies,
            "rate": self.rate(metric) if metric else None,
            "cost": money(self.cost),
        }


def variant_results(*, broadcast_id: uuid.UUID | str, variants: int) -> dict[int | None, VariantResult]:
    """Each variant's figures (0…variants−1) and the rest's (None); skipped messages are not recipients."""
    replied = Reply.objects.filter(broadcast_id=broadcast_id).filter(
        Q(urn=OuterRef("urn")) | Q(contact_id__isnull=False, contact_id=OuterRef("contact_id"))
    )
    rows = (
        Message.objects.filter(broadcast_id=broadcast_id, is_test=False)
        .exclude(status=M.SKIPPED)
        .annotate(replied=Exists(replied))
        .values("variant")
        .annotate(
            recipients=Count("id"),
            sent=Count("id", filter=Q(sent_at__isnull=False)),
            delivered=Count("id", filter=Q(status__in=[M.DELIVERED, M.READ])),
            clicks=Count("id", filter=Q(clicked=True)),
            replies=Count("id", filter=Q(replied=True, sent_at__isnull=False)),
            cost=Sum("cost", filter=Q(status__in=LEFT_STATUSES)),
        )
        .order_by()
    )
    found: dict[int | None, VariantResult] = {}
    for row in rows:
        figures = (row["recipients"], row["sent"], row["delivered"], row["clicks"], row["replies"])
        found[row["variant"]] = VariantResult(row["variant"], *figures, cost=row["cost"] or Decimal(0))
    return {index: found.get(index, VariantResult(index)) for index in [*range(variants), REST]}


def winner_of(results: dict[int | None, VariantResult], *, metric: str, variants: int) -> int:
    """The sample with the highest rate by `metric`; ties (no message sent included) go to the first."""
    return max(range(variants), key=lambda index: (results[index].rate(metric), -index))
