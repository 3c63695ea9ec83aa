"""A/B tests' part of the create body (SPEC §8 "Campaigns"): `variants` and `ab_test`, checked in the
same fast pass as the rest of the body (no database; templates are checked by the plan's context).

`variants: [{text | template, share}]`: 2–5 variants, each exactly one of `text` (a string) or
`template` (a name), and `share` the percent of the audience it goes to as a sample: a number > 0
with at most two decimals; the shares add up to at most 100. With less than 100, `ab_test: {metric,
decide_after}` is required: `metric` is `clicks` (needs `track_links`), `replies` (needs
`with_replies`) or `delivered`, and `decide_after` an ISO 8601 duration (`PT4H`, `P1DT12H`; days,
hours, minutes, seconds) from 1 minute to 30 days. With exactly 100 every variant stands alone and
`ab_test` is refused. A/B goes with schedule_mode `now` and `scheduled` (not drip, local time or a
recurring series), and never with a top-level `text` or `template`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_duration

from wallets.pricing import money

MIN_VARIANTS, MAX_VARIANTS = 2, 5
METRICS = ("clicks", "replies", "delivered")
MIN_DECIDE_AFTER = timedelta(minutes=1)
MAX_DECIDE_AFTER = timedelta(days=30)
AB_MODES = ("now", "scheduled")
VARIANT_KEYS = {"text", "template", "share"}
HUNDRED = Decimal(100)

# ab_status: samples sent, waiting for the decision; decided (the winner went to the rest); split
# (shares sum to 100: no decision).
AB_TESTING, AB_DECIDED, AB_SPLIT = "testing", "decided", "split"

Problem = tuple[str, str, str]  # (field, message, code)


@dataclass(frozen=True)
class Variant:
    share: Decimal
    text: str | None = None
    template: str | None = None

    def as_json(self) -> dict[str, Any]:
        content = {"template": self.template} if self.template is not None else {"text": self.text}
        return {**content, "share": float(self.share) if self.share % 1 else int(self.share)}


@dataclass(frozen=True)
class ABSpec:
    variants: tuple[Variant, ...]
    metric: str = ""
    decide_after: timedelta | None = None

    @property
    def split_only(self) -> bool:
        """Shares summing to 100: every variant stands alone, nothing is decided."""
        return self.remainder_share == 0

    @property
    def remainder_share(self) -> Decimal:
        return HUNDRED - sum((v.share for v in self.variants), Decimal(0))

    def ab_test_json(self) -> dict[str, Any] | None:
        if self.split_only or self.decide_after is None:
            return None
        return {"metric": self.metric, "decide_after": duration_iso(self.decide_after)}


def duration_iso(value: timedelta) -> str:
    """A duration as ISO 8601 (`P1DT2H30M`), the form it is given in."""
    days, seconds = value.days, value.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "" if days else "T0S")


def _share(raw: Any, name: str, problems: list[Problem]) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        problems.append((name, "share is a percent of the audience: a number above 0, at most 100.", "invalid"))
        return None
    try:
        share = Decimal(str(raw))
    except InvalidOperation:
        problems.append((name, "share is a percent of the audience: a number above 0, at most 100.", "invalid"))
        return None
    if not share.is_finite() or share <= 0 or share > HUNDRED:
        problems.append((name, "share must be above 0 and at most 100 (percent of the audience).", "out_of_range"))
        return None
    if share != share.quantize(Decimal("0.01")):
        problems.append((name, "share has at most two decimals (e.g. 12.5).", "invalid"))
        return None
    return share


def _variant(raw: Any, index: int, text_limit: int, problems: list[Problem]) -> Variant | None:
    name = f"variants.{index}"
    if not isinstance(raw, dict):
        problems.append((name, "Each variant is an object: {text | template, share}.", "invalid"))
        return None
    for unknown in sorted(set(raw) - VARIANT_KEYS):
        problems.append((f"{name}.{unknown}", f"Unknown field '{unknown}' (a variant has text | template, share).",
                         "unknown_field"))  # fmt: skip
    share = _share(raw.get("share"), f"{name}.share", problems) if "share" in raw else None
    if "share" not in raw:
        problems.append((f"{name}.share", "Each variant needs a share (percent of the audience).", "required"))
    text, template = raw.get("text"), raw.get("template")
    if (text in (None, "")) == (template in (None, "")):
        problems.append((name, "Give exactly one of text or template in each variant.", "template_or_text"))
        return None
    if template not in (None, ""):
        if not isinstance(template, str) or not 1 <= len(template.strip()) <= 512:
            problems.append((f"{name}.template", "A template name is 1–512 characters.", "invalid"))
            return None
        return Variant(share, template=template.strip()) if share is not None else None
    if not isinstance(text, str) or not text.strip():
        problems.append((f"{name}.text", "A variant's text is a non-empty string.", "invalid"))
        return None
    if len(text) > text_limit:
        problems.append((f"{name}.text", f"The text is {len(text)} characters; at most {text_limit}.", "text_too_long"))
        return None
    return Variant(share, text=text) if share is not None else None


def _ab_test(raw: Any, data: dict[str, Any], problems: list[Problem]) -> tuple[str, timedelta | None]:
    if not isinstance(raw, dict):
        problems.append(("ab_test", "ab_test is an object: {metric, decide_after}.", "invalid"))
        return "", None
    for unknown in sorted(set(raw) - {"metric", "decide_after"}):
        problems.append((f"ab_test.{unknown}", f"Unknown field '{unknown}'.", "unknown_field"))
    metric = raw.get("metric")
    if metric not in METRICS:
        problems.append(("ab_test.metric", f"metric is one of: {', '.join(METRICS)}.", "invalid_choice"))
        metric = ""
    elif metric == "clicks" and data.get("track_links") is not True:
        problems.append(("ab_test.metric", "The clicks metric needs track_links: true.", "track_links_required"))
    elif metric == "replies" and data.get("with_replies") is not True:
        problems.append(("ab_test.metric", "The replies metric needs with_replies: true.", "with_replies_required"))
    raw_after = raw.get("decide_after")
    after = parse_duration(raw_after) if isinstance(raw_after, str) and raw_after.upper().startswith("P") else None
    if after is None:
        problems.append(("ab_test.decide_after", "decide_after is an ISO 8601 duration such as PT4H or P1DT12H "
                         "(days, hours, minutes, seconds).", "invalid_duration"))  # fmt: skip
    elif not MIN_DECIDE_AFTER <= after <= MAX_DECIDE_AFTER:
        problems.append(("ab_test.decide_after", "decide_after must be from 1 minute (PT1M) to 30 days (P30D).",
                         "out_of_range"))  # fmt: skip
        after = None
    return str(metric or ""), after


def ab_of(data: dict[str, Any], *, mode: str, text_limit: int) -> tuple[ABSpec | None, list[Problem]]:
    """The A/B part of a create body: (None, []) without `variants`; (spec, []) or (None, problems)."""
    raw, raw_test = data.get("variants"), data.get("ab_test")
    if raw in (None, []):
        if raw_test is not None:
            return None, [("ab_test", "ab_test goes with variants.", "unexpected")]
        return None, []
    problems: list[Problem] = []
    if not isinstance(raw, list) or not MIN_VARIANTS <= len(raw) <= MAX_VARIANTS:
        return None, [("variants", f"Give {MIN_VARIANTS} to {MAX_VARIANTS} variants.", "invalid_count")]
    for key in ("text", "template"):
        if data.get(key) not in (None, ""):
            problems.append((key, f"With variants, each variant has its own text or template: no top-level {key}.",
                             "variants_exclusive"))  # fmt: skip
    if mode not in AB_MODES:
        problems.append(("variants", f"A/B tests go with schedule_mode now or scheduled, not {mode}.", "mode"))
    variants = [_variant(item, index, text_limit, problems) for index, item in enumerate(raw)]
    total = sum((v.share for v in variants if v is not None), Decimal(0))
    if total > HUNDRED:
        problems.append(("variants", f"The shares add up to {total}%; at most 100.", "shares_over_100"))
    metric, after = "", None
    if total < HUNDRED:
        if raw_test is None:
            problems.append(("ab_test", "Shares under 100% need ab_test: {metric, decide_after} (the winner goes to "
                             "the rest).", "required"))  # fmt: skip
        else:
            metric, after = _ab_test(raw_test, data, problems)
    elif raw_test is not None:
        problems.append(("ab_test", "With shares summing to 100 every variant stands alone: there is no rest to "
                         "send a winner to, so no ab_test.", "unexpected"))  # fmt: skip
    if problems:
        return None, problems
    return ABSpec(tuple(v for v in variants if v is not None), metric, after), []


def first_variant(data: dict[str, Any]) -> dict[str, Any]:
    """The body whose content the rest of the create reads: with variants, the first one's text or
    template stands for the broadcast's (the others are planned by ab_planning.py)."""
    raw = data.get("variants")
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], dict):
        return data
    return {**data, "text": raw[0].get("text"), "template": raw[0].get("template")}


def ab_precheck(fields: dict[str, Any]) -> dict[str, Any]:
    """The precheck's A/B fields with their amounts as money strings (SPEC §7: amounts are strings)."""

    def shown(group: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if group is None else {**group, "cost": money(group["cost"])}

    return {**fields, "variants": [shown(group) for group in fields["variants"]], "rest": shown(fields["rest"])}
