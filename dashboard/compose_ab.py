"""Compose's "A/B test" content mode (SPEC §8 "Campaigns"; docs/broadcasts.md, "A/B tests"): 2–5
texts with their shares, what decides the winner and when, read into the create body's `variants` and
`ab_test` (and back, for a copy or an edit), and what the review and the detail page say of a test.

Parsing and wording only: every rule (shares over 100, a metric that needs tracked links, a
duration out of bounds) is the service's (broadcasts/ab_fields.py), shown on the form as it words it.

The form's fields: `content_mode` `ab`; `ab_text` and `ab_share` (five of each, empty ones left
out), `ab_metric` (delivered, clicks, replies), `ab_after` (a number) and `ab_after_unit` (minutes,
hours, days)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import QueryDict
from django.utils.dateparse import parse_duration

from broadcasts.ab_results import variant_results, winner_of
from broadcasts.models import Broadcast

SLOTS = 5
METRIC_CHOICES = (
    ("delivered", "The most deliveries"),
    ("clicks", "The most clicks (tick “Track links”)"),
    ("replies", "The most replies"),
)
METRIC_WORDS = {"delivered": "the most deliveries", "clicks": "the most clicks", "replies": "the most replies"}
UNITS = (("minutes", "minutes", "M"), ("hours", "hours", "H"), ("days", "days", "D"))
LETTERS = "ABCDE"


def _share(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def ab_body(form: QueryDict) -> dict[str, Any]:
    """The body's `variants` (and `ab_test` when the shares leave a rest) from the A/B fields."""
    texts, shares = form.getlist("ab_text"), form.getlist("ab_share")
    variants: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        share = shares[index].strip() if index < len(shares) else ""
        if text.strip() or share:
            variants.append({"text": text, "share": share or "0"})
    body: dict[str, Any] = {"variants": variants}
    total = sum((_share(str(v["share"])) or Decimal(0) for v in variants), Decimal(0))
    if total != 100:  # at exactly 100 every text stands alone: nothing to decide
        amount, unit = form.get("ab_after", "").strip() or "0", form.get("ab_after_unit", "hours")
        letter = {key: code for key, _words, code in UNITS}.get(unit, "H")
        prefix = "P" if letter == "D" else "PT"
        body["ab_test"] = {"metric": form.get("ab_metric", "delivered"), "decide_after": f"{prefix}{amount}{letter}"}
    return body


def ab_form_fields(form: QueryDict, body: Mapping[str, Any]) -> None:
    """The A/B fields from a body (form_from's part, for a copy or an edit)."""
    variants = body.get("variants")
    if not variants:
        return
    form["content_mode"] = "ab"
    form.setlist("ab_text", [str(v.get("text") or "") for v in variants])
    form.setlist("ab_share", [str(v.get("share") or "") for v in variants])
    test = body.get("ab_test") or {}
    if test:
        form["ab_metric"] = str(test.get("metric") or "delivered")
        after = parse_duration(str(test.get("decide_after") or "")) if test.get("decide_after") else None
        seconds = int(after.total_seconds()) if after is not None else 4 * 3600
        for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
            if seconds % size == 0:
                form["ab_after"], form["ab_after_unit"] = str(seconds // size), unit
                break


def ab_rows(form: QueryDict) -> list[dict[str, Any]]:
    """The five text-and-share slots of the form, filled from it (the first two at 10 % by default)."""
    texts, shares = form.getlist("ab_text"), form.getlist("ab_share")
    fresh = not texts and not shares
    return [
        {
            "index": index,
            "letter": LETTERS[index],
            "text": texts[index] if index < len(texts) else "",
            "share": shares[index] if index < len(shares) else ("10" if fresh and index < 2 else ""),
        }
        for index in range(SLOTS)
    ]


def _percent(value: Any) -> str:
    number = _share(str(value)) or Decimal(0)
    return f"{number.normalize():f}"


def describe_ab(variants: list[Mapping[str, Any]], ab_test: Mapping[str, Any] | None) -> str:
    """In words: "2 texts, to 10 % of the recipients each (A 10 %, B 10 %); after 4 hours, the one
    with the most deliveries goes to the other 80 %"."""
    shares = [_share(str(v.get("share"))) or Decimal(0) for v in variants]
    each = ", ".join(f"{LETTERS[i]} {_percent(s)} %" for i, s in enumerate(shares))
    head = f"{len(variants)} texts, each to its share of the recipients ({each})"
    if not ab_test:
        return f"{head}; every text stands alone (the shares add up to 100 %)"
    after = parse_duration(str(ab_test.get("decide_after") or ""))
    rest = _percent(Decimal(100) - sum(shares, Decimal(0)))
    when = _duration_words(after.total_seconds()) if after is not None else str(ab_test.get("decide_after"))
    metric = METRIC_WORDS.get(str(ab_test.get("metric")), str(ab_test.get("metric")))
    return f"{head}; after {when}, the one with {metric} goes to the other {rest} % (a tie: the first)"


def _duration_words(seconds: float) -> str:
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {word}{'' if count == 1 else 's'}"
    return f"{int(seconds)} seconds"


def ab_review_context(body: Mapping[str, Any], precheck: Mapping[str, Any]) -> dict[str, Any]:
    """The review of an A/B broadcast: the test in words, and each text's recipients and cost."""
    variants = body.get("variants")
    if not variants:
        return {}
    groups = precheck.get("variants") or []
    rows = [
        {
            "letter": LETTERS[i],
            "text": v.get("text"),
            "share": _percent(v.get("share")),
            **(groups[i] if i < len(groups) else {}),
        }
        for i, v in enumerate(variants)
    ]
    return {
        "ab_words": describe_ab(list(variants), body.get("ab_test")),
        "ab_rows": rows,
        "ab_rest": precheck.get("rest"),
    }


def ab_detail_context(broadcast: Broadcast) -> dict[str, Any]:
    """The detail page's test: in words, each text's results, the rest, and the winner once decided
    (or the one leading now)."""
    if not broadcast.variants:
        return {}
    metric = (broadcast.ab_test or {}).get("metric", "")
    count = len(broadcast.variants)
    results = variant_results(broadcast_id=broadcast.pk, variants=count)
    leading = winner_of(results, metric=metric, variants=count) if metric else None
    rows = [
        {
            "letter": LETTERS[index],
            "text": variant.get("text") or f"Template {variant.get('template')}",
            "share": _percent(variant.get("share")),
            "result": results[index],
            "percent": results[index].rate(metric) * 100 if metric else None,
            "won": broadcast.ab_winner == index,
        }
        for index, variant in enumerate(broadcast.variants)
    ]
    return {
        "ab": {
            "words": describe_ab(broadcast.variants, broadcast.ab_test),
            "rows": rows,
            "rest": results[None] if broadcast.ab_test else None,
            "status": broadcast.ab_status,
            "decide_at": broadcast.ab_decide_at,
            "winner": LETTERS[broadcast.ab_winner] if broadcast.ab_winner is not None else None,
            "leading": LETTERS[leading] if leading is not None and broadcast.ab_status == "testing" else None,
            "metric_words": METRIC_WORDS.get(metric, ""),
        }
    }
