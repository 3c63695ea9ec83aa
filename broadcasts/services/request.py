"""The create body a broadcast was made from: what sending a draft, a PATCH, a test send and the
background preparation plan again."""

from __future__ import annotations

from typing import Any

from ..models import Broadcast


def request_data(broadcast: Broadcast) -> dict[str, Any]:
    """The create body that would make this broadcast (for sending a draft or applying a PATCH)."""
    audience = broadcast.audience or {}
    recipients = audience.get("recipients") or []
    data: dict[str, Any] = {
        "name": broadcast.name,
        "channel": broadcast.channel,
        "contacts": audience.get("contacts") or [],
        "contact_lists": audience.get("contact_lists") or [],
        "exclude_lists": audience.get("exclude_lists") or [],
        "attachments": broadcast.attachments or [],
        "sender": broadcast.sender,
        "purpose": broadcast.purpose,
        "schedule_mode": broadcast.schedule_mode,
        "route": broadcast.route_code,
        "tier": broadcast.tier,
        "track_links": broadcast.track_links,
        "optimize_text": broadcast.optimize_text,
        "transliterate": broadcast.transliterate,
        "skip_opted_out": broadcast.skip_opted_out,
        "with_replies": broadcast.with_replies,
        "list_name": broadcast.list_name,
        "base_language": broadcast.base_language,
    }
    if any(r.get("variables") for r in recipients):
        data["recipient_variables"] = [{"urn": r["address"], **r.get("variables", {})} for r in recipients]
    elif recipients:
        data["recipients"] = [r["address"] for r in recipients]
    if broadcast.variants:  # an A/B test: its variants hold the content (ab_fields.py)
        data["variants"] = broadcast.variants
        if broadcast.ab_test:
            data["ab_test"] = broadcast.ab_test
    elif broadcast.template_name:
        data["template"] = broadcast.template_name
    else:
        texts = broadcast.text or {}
        data["text"] = texts.get("") if list(texts) == [""] else texts
    if broadcast.scheduled_at and broadcast.schedule_mode == Broadcast.ScheduleMode.SCHEDULED:
        data["scheduled_at"] = broadcast.scheduled_at.isoformat()
    if broadcast.drip_rate:
        data["drip_rate"] = broadcast.drip_rate
    if broadcast.local_time and broadcast.schedule_mode == Broadcast.ScheduleMode.LOCAL_TIME:
        # What was asked ({date, time, if_passed}), not what planning found (its `skipped` count).
        data["local_time"] = {key: broadcast.local_time.get(key) for key in ("date", "time", "if_passed")}
    return data
