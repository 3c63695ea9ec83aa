"""Charts drawn on the server as SVG shapes (readable with JS off), each with the data the page's
script (dashboard/static/dashboard/charts.js, with the vendored uPlot) draws the full chart from:
timestamps as epoch seconds, counts, and the time zone to write them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from dashboard.selectors import SendBuckets


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
    per: str = "minute"  # what one bar counts: "10 seconds", "minute", "hour", "day"
    plot: dict[str, Any] = field(default_factory=dict)  # for json_script: what charts.js draws

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
    step: int = 60,
) -> BarChart:
    """One bar per point, scaled to the highest; labels say the moment (`moment`, a strftime
    format: the minute unless told) and the count. Aware moments are written in the active time
    zone (the user's on the dashboard) and labelled with it unless `zone` says otherwise. `step` is
    the seconds each point counts (a minute unless told); naive moments (days) are drawn in UTC."""
    per = per_label(step)
    if not points:
        return BarChart(width, height, [], 0, "", "", per=per)
    aware = timezone.is_aware(points[0][0])
    plot: dict[str, Any] = {
        "x": [int((at if aware else at.replace(tzinfo=UTC)).timestamp()) for at, _ in points],
        "y": [count for _, count in points],
        "step": step,
        "tz": timezone.get_current_timezone_name() if aware else "UTC",
        "zone": "",
        "unit": unit,
        "per": per,
        "time": aware and step < 86400,
        "seconds": step < 60,
    }
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
    plot["zone"] = zone.strip()
    return BarChart(width, height, bars, peak, first, last, zone.strip(), per, plot)


def per_label(step: int) -> str:
    """What one bucket of `step` seconds is called after "per": "10 seconds", "minute", "2 hours"."""
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if step % size == 0:
            n = step // size
            return name if n == 1 else f"{n} {name}s"
    return f"{step} seconds"  # pragma: no cover - every step is whole seconds


def sends_chart(buckets: SendBuckets) -> BarChart:
    """The broadcast's sends chart from `dashboard.selectors.send_buckets`: moments to the second
    for buckets under a minute, with the date once the span runs over a day."""
    points, step = buckets.points, buckets.step
    if step < 60:
        moment = "%H:%M:%S"
    elif step >= 86400:
        moment = "%b %d"
    elif points and timezone.localtime(points[-1][0]).date() != timezone.localtime(points[0][0]).date():
        moment = "%b %d %H:%M"
    else:
        moment = "%H:%M"
    return bar_chart(points, moment=moment, step=step)
