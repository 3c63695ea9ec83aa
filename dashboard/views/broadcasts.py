"""Broadcasts: list, detail with live progress, the lifecycle actions, the message log and its export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts.channels import Channel
from broadcasts import services
from broadcasts.models import Broadcast, Message
from broadcasts.selectors import BroadcastStats, broadcast_dashboard, broadcast_list, broadcast_stats
from broadcasts.states import ACTIONS as RULES
from broadcasts.states import (
    TERMINAL_BROADCAST,
    UI_STATUS,
    actions_allowed,
    broadcast_waits_for_credit,
    statuses_for_filter,
    ui_status_choices,
)
from dashboard import selectors
from dashboard.access import MANAGER, Member, member_required
from dashboard.charts import bar_chart, sends_chart
from dashboard.compose_ab import ab_detail_context
from dashboard.exports import csv_lines
from tracking.selectors import link_list
from wallets.selectors import wallet_get

from . import campaigns
from .common import PAGE_SIZE, attempt, link_row, offset, page, rate

POLL_SECONDS = 3
LOG_PAGE = 100
LINKS_SHOWN = 50  # a broadcast's links on its page; /tracking/?broadcast= lists them all


@dataclass(frozen=True)
class Action:
    rule: str  # its name in broadcasts.states.ACTIONS: the rule that says when it applies
    service: Callable[..., Any]
    label: str  # the detail page's button
    question: str  # what the confirmation step asks
    button: str  # the confirmation step's button


# URL slug → action, in the order the page shows them. Test send has its own form (broadcast_test_send).
ACTIONS: dict[str, Action] = {
    "pause": Action(
        "pause",
        services.broadcast_pause,
        "Pause",
        "Pause this broadcast? Messages not yet sent wait until you resume.",
        "Pause",
    ),
    "resume": Action(
        "resume",
        services.broadcast_resume,
        "Resume",
        "Resume this broadcast? Sending goes on where it stopped.",
        "Resume",
    ),
    "cancel": Action(
        "cancel",
        services.broadcast_cancel,
        "Cancel",
        "Cancel this broadcast? Messages not yet sent are cancelled and their credit released. This cannot be undone.",
        "Cancel broadcast",
    ),
    "retry-failed": Action(
        "retry",
        services.broadcast_retry_failed,
        "Retry failed",
        "Retry the failed messages? Only failed messages are sent again, never one that was delivered.",
        "Retry failed",
    ),
}


def actions_context(broadcast: Broadcast, stats: BroadcastStats) -> dict[str, Any]:
    """The actions that apply to the broadcast's status now (dashboard.selectors.broadcast_actions,
    from the rule table the services use), so the page never offers one the service would refuse."""
    applicable = selectors.broadcast_actions(broadcast=broadcast, failed=stats.failed)
    if services.is_series(broadcast):  # a series: its own pause and resume, and cancel (campaigns.py)
        applicable = campaigns.series_actions(broadcast)
    return {
        "available_actions": [(slug, action) for slug, action in ACTIONS.items() if action.rule in applicable],
        "can_test": "test" in applicable,
        "can_follow_up": services.follow_up_possible(broadcast),
        "follow_up_label": services.FOLLOW_UP_LABELS.get(broadcast.follow_up_audience, ""),
    }


def funnel(stats: BroadcastStats) -> list[dict[str, Any]]:
    """sent → delivered → read → clicked, each with its share of the sent messages. "Clicked" counts
    recipients with a click (`unique_clicks`), so its rate is the broadcast's `ctr`; a person's
    repeated clicks are `clicks`, shown beside the funnel."""
    steps = [
        ("Sent", stats.sent),
        ("Delivered", stats.delivered),
        ("Read", stats.read),
        ("Clicked", stats.unique_clicks),
    ]
    return [
        {"label": label, "count": count, "rate": rate(count, stats.sent), "percent": rate(count, stats.sent) * 100}
        for label, count in steps
    ]


def _percent(part: int, whole: int) -> float:
    return round(min(part, whole) / whole * 100, 1) if whole else 0


def progress_context(broadcast: Broadcast) -> dict[str, Any]:
    stats = broadcast_stats(broadcast_ids=[broadcast.pk])[broadcast.pk]
    done = stats.sent + stats.failed + stats.skipped + stats.cancelled
    total = done + stats.queued
    return {
        "broadcast": broadcast,
        "stats": stats,
        "ui_status": UI_STATUS.get(broadcast.status, broadcast.status),
        "live": broadcast.status not in TERMINAL_BROADCAST,
        "poll_seconds": POLL_SECONDS,
        "funnel": funnel(stats),
        "delivery_rate": rate(stats.delivered, stats.sent),
        "ctr_percent": stats.ctr * 100,
        "done": done,
        "total": total,
        "queued_now": stats.queued - stats.waiting,
        # Paused for credit: what is left waits for a top-up and resume, not for a time (stats count it waiting).
        "for_credit": broadcast_waits_for_credit(status=broadcast.status, pause_reason=broadcast.pause_reason),
        # Why the rest waits (SPEC §10): read only while something is still to send.
        "waiting": selectors.waiting_reasons(broadcast=broadcast) if stats.queued else [],
        "percent": _percent(done, total),
        "chart": sends_chart(selectors.send_buckets(broadcast=broadcast)),
        "preparation_percent": _percent(broadcast.preparation_processed, broadcast.preparation_total),
        **actions_context(broadcast, stats),
    }


@require_GET
@member_required()
def broadcast_list_view(request: HttpRequest, member: Member) -> HttpResponse:
    filters = {key: request.GET.get(key, "") for key in ("status", "channel", "name")}
    queryset = broadcast_list(
        client=member.client,
        statuses=statuses_for_filter(filters["status"]),
        channel=filters["channel"] if filters["channel"] in Channel.values else None,
        name=filters["name"] or None,
    ).order_by("-created_at")
    start = offset(request)
    rows = list(queryset[start : start + PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    stats = broadcast_stats(broadcast_ids=[b.pk for b in rows])
    items = [
        {
            "broadcast": b,
            "stats": stats[b.pk],
            "ui_status": UI_STATUS.get(b.status),
            "rate": rate(stats[b.pk].delivered, stats[b.pk].sent),
        }
        for b in rows
    ]
    return page(
        request,
        member,
        "dashboard/broadcasts/list.html",
        {
            "items": items,
            "filters": filters,
            "statuses": ui_status_choices(),
            "channels": Channel.choices,
            "next_offset": start + PAGE_SIZE if more else None,
            "prev_offset": max(start - PAGE_SIZE, 0) if start else None,
        },
    )


@require_GET
@member_required()
def broadcast_detail(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    wallet = wallet_get(client=member.client)
    context = progress_context(broadcast)
    context.update(
        {
            "reasons": selectors.problem_reasons(broadcast=broadcast),
            "problems": Message.objects.none()
            if not context["stats"].failed and not context["stats"].skipped
            else selectors.message_log(
                client=member.client, filters=selectors.MessageFilters(broadcast=str(broadcast.pk))
            ).filter(status__in=selectors.PROBLEM_STATUSES)[:20],
            "wallet": wallet,
            "text": broadcast.text or {},
            **campaigns.detail_context(broadcast, member),
            **ab_detail_context(broadcast),
            "links": [
                link_row(link)
                for link in link_list(client=member.client)
                .filter(broadcast_id=broadcast.pk)
                .order_by("-clicks", "url")[:LINKS_SHOWN]
            ],
        }
    )
    return page(request, member, "dashboard/broadcasts/detail.html", context)


@require_GET
@member_required()
def broadcast_progress(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    """The live part of the detail page, polled by htmx every few seconds while the broadcast runs;
    once it ends the fragment carries no trigger, so the polling stops. The actions card comes with
    it (swapped out of band), so a button that stopped applying goes as the status changes."""
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    return page(request, member, "dashboard/broadcasts/_poll.html", progress_context(broadcast))


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def broadcast_action(request: HttpRequest, member: Member, broadcast_id: object, action: str) -> HttpResponse:
    """GET: the confirmation step (also what a viewer may look at), or why the action does not apply
    now (a page left open while the status moved). POST: the service, which decides, then back."""
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    if action not in ACTIONS:
        return page(request, member, "404.html", status=404)
    chosen = ACTIONS[action]
    rule = campaigns.rule_for(chosen.rule, broadcast)
    if request.method == "POST":
        attempt(request, lambda: chosen.service(broadcast=broadcast), f"{chosen.button}: done.")
        return redirect("dashboard:broadcast_detail", broadcast_id=broadcast.pk)
    return page(
        request,
        member,
        "dashboard/broadcasts/confirm.html",
        {
            "broadcast": broadcast,
            "question": campaigns.series_question(action, broadcast) or chosen.question,
            "button": chosen.button,
            "action": action,
            "refusal": "" if rule in actions_allowed(broadcast.status) else _refusal(rule, broadcast),
        },
    )


def _refusal(rule: str, broadcast: Broadcast) -> str:
    """The service's own words for an action the status forbids (broadcasts.states.ACTIONS)."""
    return f"{RULES[rule].describe} This one is {UI_STATUS.get(broadcast.status, broadcast.status).lower()}."


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def broadcast_test_send(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    recipients = request.POST.get("recipients", "")
    if request.method == "POST":
        numbers = [line.strip() for line in recipients.replace(",", "\n").splitlines() if line.strip()]
        sent = attempt(
            request,
            lambda: services.broadcast_test(broadcast=broadcast, recipients=numbers),
            ngettext(
                "Test message sent to %(count)d recipient.", "Test message sent to %(count)d recipients.", len(numbers)
            )
            % {"count": len(numbers)},
        )
        if sent is not None:
            return redirect("dashboard:broadcast_detail", broadcast_id=broadcast.pk)
    return page(
        request,
        member,
        "dashboard/broadcasts/test_send.html",
        {
            "broadcast": broadcast,
            "recipients": recipients,
            "max": services.MAX_TEST_RECIPIENTS,
            "refusal": "" if "test" in actions_allowed(broadcast.status) else _refusal("test", broadcast),
        },
    )


def _log_filters(request: HttpRequest) -> selectors.MessageFilters:
    return selectors.MessageFilters(
        **{key: request.GET.get(key, "").strip() for key in ("broadcast", "status", "phone", "error_code")}
    )


@require_GET
@member_required()
def message_log(request: HttpRequest, member: Member) -> HttpResponse:
    """Newest first, paged by id (`before=`), so the thousandth page costs what the first does."""
    filters = _log_filters(request)
    queryset = selectors.message_log(client=member.client, filters=filters)
    before = request.GET.get("before", "")
    if before.isdigit():
        queryset = queryset.filter(id__lt=int(before))
    rows = list(queryset.select_related("broadcast")[: LOG_PAGE + 1])
    more = len(rows) > LOG_PAGE
    rows = rows[:LOG_PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    return page(
        request,
        member,
        "dashboard/messages/log.html",
        {
            "rows": rows,
            "filters": filters,
            "statuses": selectors.message_status_choices(),
            "next_before": rows[-1].pk if more and rows else None,
            "query": query.urlencode(),
        },
    )


@require_GET
@member_required()
def message_export(request: HttpRequest, member: Member) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed through a server-side cursor: memory stays at one chunk."""
    queryset = selectors.message_log(client=member.client, filters=_log_filters(request))
    lines = csv_lines(selectors.EXPORT_COLUMNS, selectors.message_export_rows(queryset))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="messages-{stamp}.csv"'
    return response


@require_GET
@member_required()
def overview(request: HttpRequest, member: Member) -> HttpResponse:
    dashboard = broadcast_dashboard(client=member.client, limit=10)
    days = selectors.daily_totals(client=member.client, zone=member.zone)
    return page(
        request,
        member,
        "dashboard/overview.html",
        {
            "membership": member.membership,
            "totals": dashboard.totals(),
            "rows": dashboard.rows,
            "wallet": wallet_get(client=member.client),
            "days": [day for day in days if day.broadcasts],
            "days_shown": len(days),
            "daily_chart": bar_chart(
                [(datetime.combine(day.day, time()), day.sent) for day in days], moment="%b %d", zone="", step=86400
            ),
        },
    )
