"""The campaign managers' pages (server-rendered)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.selectors import membership_for


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    membership = membership_for(user=request.user, client_id=request.session.get("client_id"))  # type: ignore[arg-type]
    return render(request, "dashboard/overview.html", {"membership": membership})
