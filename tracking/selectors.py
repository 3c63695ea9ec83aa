"""Reads of tracking: a client's links and a link's clicks, and totals per broadcast for the
pages that show them. Every figure comes from a link's counters (kept by tracking.clicks), never
from counting the clicks table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from accounts.models import Client

from .models import Click, TrackedLink


def link_list(*, client: Client) -> QuerySet[TrackedLink]:
    return TrackedLink.objects.filter(client=client)


def link_clicks(*, link: TrackedLink) -> QuerySet[Click]:
    """A link's clicks, newest first (the index over (link, -clicked_at))."""
    return Click.objects.filter(link=link).order_by("-clicked_at", "-id")


def link_ctr(link: TrackedLink) -> float:
    """Unique clicks ÷ recipients the link was sent to (0 when it was sent to none)."""
    return round(link.unique_clicks / link.recipients, 4) if link.recipients else 0.0


@dataclass(frozen=True, slots=True)
class LinkTotals:
    clicks: int = 0  # people's clicks over the broadcast's links
    bot_clicks: int = 0


def broadcast_link_totals(*, broadcast_ids: Iterable[uuid.UUID | str]) -> dict[str, LinkTotals]:
    """{broadcast id (str): its links' summed counters}, one query; broadcasts without links are
    absent. Distinct recipients over all of a broadcast's links are not a sum of the links' own
    (one recipient may click two links): broadcasts count them from their messages' `clicked`."""
    ids = [str(pk) for pk in broadcast_ids]
    if not ids:
        return {}
    rows = (
        TrackedLink.objects.filter(broadcast_id__in=ids)
        .values("broadcast_id")
        .annotate(clicks=Sum("clicks"), bot_clicks=Sum("bot_clicks"))
    )
    return {str(r["broadcast_id"]): LinkTotals(clicks=r["clicks"], bot_clicks=r["bot_clicks"]) for r in rows}
