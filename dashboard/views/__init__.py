"""The campaign managers' pages (server-rendered), one module per area; the catch-all 404 here."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.http import escape_leading_slashes
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import handler404 as api_handler404
from accounts.api.errors import is_api_path

NOT_FOUND_TEMPLATE = "404.html"  # also what Django's handler404 renders with DEBUG off


@csrf_exempt  # nothing here to protect: a POST to an unknown URL is a 404, not a CSRF refusal
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """The last URL pattern: an unknown page answers the dashboard's 404 page, with DEBUG on too
    (Django would list every URL pattern instead).

    Being a catch-all, it takes over CommonMiddleware's APPEND_SLASH job: `/admin` still redirects to
    `/admin/` when that exists."""
    if is_api_path(request.path):  # /hooks/…: the JSON envelope, as handler404 answers there
        return api_handler404(request)
    if settings.APPEND_SLASH and not request.path_info.endswith("/") and request.method in ("GET", "HEAD"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            target = escape_leading_slashes(request.get_full_path(force_append_slash=True))
            return HttpResponsePermanentRedirect(target)
    return render(request, NOT_FOUND_TEMPLATE, {"request_path": request.path}, status=404)
