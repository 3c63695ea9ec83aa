"""The rules a planned broadcast must pass to be accepted, and the warnings a precheck shows for
them (SPEC §8): one list of rules, so create refuses exactly what precheck warns about."""

from __future__ import annotations

from datetime import UTC

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

from .planning import MAX_SMS_RENDERED, PlanTotals
from .validation import BroadcastRequest

NO_VALID_RECIPIENTS = "None of the recipients can be sent to (all invalid, opted out, duplicates or unroutable)."
NONE_INSIDE_WINDOW = (
    "None of the recipients can be sent to: WhatsApp free text goes only to numbers that wrote to this "
    "WhatsApp number in the last 24 hours ({closed} did not); send an approved template instead."
)


# The precheck warnings that name a rule check_plan refuses the create for (the rest only inform).
REFUSING_WARNINGS = frozenset({"stop_mention_missing", "text_too_long", "local_time_passed"})


def check_plan(totals: PlanTotals, *, request: BroadcastRequest) -> None:
    """The rules a broadcast must pass to be accepted (a precheck reports them as warnings)."""
    errors: dict[str, list[ValidationError]] = {}
    local = totals.local_time
    if local is not None and (local.refusal() or (totals.total_contacts == 0 and local.all_skipped())):
        # Local time (local_time.py): passed for some recipients without `if_passed`, or for all.
        errors["local_time"] = [ValidationError(local.refusal() or local.all_skipped(), code="local_time_passed")]
    elif totals.total_contacts == 0:
        closed = totals.window_closed_count
        message = NONE_INSIDE_WINDOW.format(closed=closed) if closed else NO_VALID_RECIPIENTS
        errors.setdefault("recipients", []).append(ValidationError(message, code="no_valid_recipients"))
    if totals.stop_missing:
        errors.setdefault("text", []).append(
            ValidationError(
                "Marketing SMS to French numbers must mention STOP (opt-out); "
                + ngettext(
                    "%(count)d message to France does not.",
                    "%(count)d messages to France do not.",
                    totals.stop_missing,
                )
                % {"count": totals.stop_missing},
                code="stop_mention_missing",
            )
        )
    if totals.too_long:
        errors.setdefault("text", []).append(
            ValidationError(
                ngettext(
                    "%(count)d rendered message is longer than %(limit)d characters.",
                    "%(count)d rendered messages are longer than %(limit)d characters.",
                    totals.too_long,
                )
                % {"count": totals.too_long, "limit": MAX_SMS_RENDERED},
                code="text_too_long",
            )
        )
    if errors:
        raise ValidationError(errors)


def plan_warnings(totals: PlanTotals) -> list[dict[str, str]]:
    warnings = [{"code": "exchange_rate_missing", "message": w} for w in totals.warnings.values()]
    if totals.stop_missing:
        warnings.append(
            {
                "code": "stop_mention_missing",
                "message": ngettext(
                    "%(count)d marketing SMS to France lacks the STOP opt-out mention; "
                    "create will refuse this broadcast.",
                    "%(count)d marketing SMS to France lack the STOP opt-out mention; "
                    "create will refuse this broadcast.",
                    totals.stop_missing,
                )
                % {"count": totals.stop_missing},
            }
        )
    if totals.too_long:
        warnings.append(
            {
                "code": "text_too_long",
                "message": ngettext(
                    "%(count)d rendered message exceeds %(limit)d characters.",
                    "%(count)d rendered messages exceed %(limit)d characters.",
                    totals.too_long,
                )
                % {"count": totals.too_long, "limit": MAX_SMS_RENDERED},
            }
        )
    if totals.window_closed_count:
        warnings.append(
            {
                "code": "whatsapp_window_closed",
                "message": ngettext(
                    "%(count)d recipient has not written to this WhatsApp number in the last 24 hours: free "
                    "text cannot reach them, so they will be skipped (whatsapp_window_closed).",
                    "%(count)d recipients have not written to this WhatsApp number in the last 24 hours: free "
                    "text cannot reach them, so they will be skipped (whatsapp_window_closed).",
                    totals.window_closed_count,
                )
                % {"count": totals.window_closed_count},
            }
        )
    if totals.quiet_hours_count and totals.quiet_hours_first is not None:
        first = totals.quiet_hours_first.astimezone(UTC).isoformat().replace("+00:00", "Z")
        warnings.append(
            {
                "code": "quiet_hours",
                "message": ngettext(
                    "%(count)d recipient is in quiet hours at the send time: they will receive it when their "
                    "quiet hours end, on %(local)s their time (%(utc)s).",
                    "%(count)d recipients are in quiet hours at the send time: they will receive it when their "
                    "quiet hours end, the first on %(local)s their time (%(utc)s).",
                    totals.quiet_hours_count,
                )
                % {"count": totals.quiet_hours_count, "local": totals.quiet_hours_first_local, "utc": first},
            }
        )
    if totals.local_time is not None and totals.local_time.refusal():
        refusal = totals.local_time.refusal()
        warnings.append({"code": "local_time_passed", "message": f"{refusal} Create will refuse this broadcast."})
    if totals.missing_variables:
        names = ", ".join(sorted(totals.missing_variables))
        warnings.append({"code": "missing_variables", "message": f"Some recipients have no value for: {names}."})
    if totals.non_gsm:
        warnings.append(
            {
                "code": "ucs2_encoding",
                "message": "Some messages need UCS-2 (70 characters a part) because of: "
                + " ".join(totals.non_gsm)
                + ".",
            }
        )
    return warnings
