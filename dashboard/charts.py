"""Charts drawn on the server as SVG shapes: no JavaScript, no chart library, readable with JS off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # for the <title> tooltip and screen readers


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    first: str
    last: str
    zone: str = ""  # the zone the moments are written in ("EAT"), "" for dates

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(
    points: list[tuple[datetime, int]],
    *,
    width: int = 600,
    height: int = 160,
    unit: str = "sent",
    moment: str = "%H:%M",
    zone: str | None = None,
) -> BarChart:
    """One bar per point, scaled to the highest; labels say the moment (`moment`, a strftime
    format: the minute unless told) and the count. Aware moments are written in the active time
    zone (the user's on the dashboard) and labelled with it unless `zone` says otherwise."""
    if not points:
        return BarChart(width, height, [], 0, "", "")
    points = [(timezone.localtime(at) if timezone.is_aware(at) else at, count) for at, count in points]
    if zone is None:
        zone = f" {points[0][0].tzname()}" if timezone.is_aware(points[0][0]) else ""
    peak = max(count for _, count in points) or 1
    slot = width / len(points)
    bar_width = max(slot * 0.8, 1.0)
    bars = [
        Bar(
            x=round(i * slot + (slot - bar_width) / 2, 2),
            y=round(height - count / peak * height, 2),
            width=round(bar_width, 2),
            height=round(count / peak * height, 2),
            label=f"{at.strftime(moment)}{zone}: {count} {unit}",
        )
        for i, (at, count) in enumerate(points)
    ]
    first, last = points[0][0].strftime(moment), points[-1][0].strftime(moment)
    return BarChart(width, height, bars, peak, first, last, zone.strip())
