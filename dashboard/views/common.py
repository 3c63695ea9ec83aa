"""What every dashboard page shares: rendering with the member, running a service, paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.exceptions import HeraldError, describe_validation_error
from dashboard.access import Member
from tracking.models import TrackedLink
from tracking.selectors import link_ctr

T = TypeVar("T")
PAGE_SIZE = 50


def page(
    request: HttpRequest, member: Member, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, template, {"member": member, "client": member.client, **(context or {})}, status=status)


def error_text(exc: Exception) -> str:
    if isinstance(exc, HeraldError):
        fields = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
        return f"{exc.message} {fields}".strip()
    return describe_validation_error(exc)


def attempt(request: HttpRequest, action: Callable[[], T], success: str) -> T | None:
    """Run a service; its refusal (a ValidationError or a Herald error) becomes a message on the
    page instead of a 500, exactly as the service worded it."""
    try:
        result = action()
    except (HeraldError, ValidationError) as exc:
        messages.error(request, error_text(exc))
        return None
    if success:
        messages.success(request, success)
    return result


def offset(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("offset", 0)), 0)
    except ValueError:
        return 0


def rate(part: int, whole: int) -> float:
    """A share as the API rounds it (4 decimals), 0 when there is nothing to divide."""
    return round(part / whole, 4) if whole else 0.0


def link_row(link: TrackedLink, broadcast_name: str = "") -> dict[str, Any]:
    """A tracked link as the pages show it: its counters, and its ctr as the API serialises it."""
    ctr = link_ctr(link)
    return {"link": link, "broadcast_name": broadcast_name, "ctr": ctr, "percent": ctr * 100}
