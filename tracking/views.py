"""`GET /r/{code}`: the short link's redirect, public (no login, session or CSRF), as cheap as
Django allows: one SQL statement per click, nothing read from the session or the user (so the
session and auth middleware do no work), nothing logged about a click (its code, URL, address and
user agent are a recipient's personal data). With PostgreSQL unreachable it answers 503 with
Retry-After, never a 500 (SPEC §12), and logs that it did, without any of those."""

from __future__ import annotations

import re
import threading
import time
from functools import cache

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import json_error
from accounts.net import client_ip

from .bots import is_bot
from .clicks import MAX_USER_AGENT, DatabaseUnavailableError, click_record, ip_hash, link_url

log = structlog.get_logger(__name__)

CODE = re.compile(r"[0-9A-Za-z]{7}/?")
RETRY_AFTER_S = 30
UNAVAILABLE_MESSAGE = "Links cannot be followed right now; try again in a minute."
# One warning per process per interval while PostgreSQL is down, with how many clicks it turned
# away: an outage under a busy campaign must not write a log line per click.
LOG_EVERY_S = 10.0


@cache
def _not_found_page() -> bytes:
    return render_to_string("tracking/404.html").encode()


def _not_found() -> HttpResponse:
    page = _not_found_page()
    response = HttpResponse(page, status=404, content_type="text/html; charset=utf-8")
    response["Content-Length"] = str(len(page))
    return response


@cache
def _unavailable_page() -> bytes:
    return render_to_string("tracking/503.html").encode()


class _Throttled:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = float("-inf")
        self.refused = 0

    def warn(self, error: str) -> None:
        with self.lock:
            self.refused += 1
            now = time.monotonic()
            if now - self.last < LOG_EVERY_S:
                return
            refused, self.refused, self.last = self.refused, 0, now
        log.warning("redirect.database_unavailable", error=error, refused=refused)


_unavailable_log = _Throttled()


def _unavailable(request: HttpRequest, exc: DatabaseUnavailableError) -> HttpResponse:
    """503 with Retry-After: SPEC §4's error envelope for a client that asks for JSON, else a
    short page for a recipient's browser."""
    _unavailable_log.warn(str(exc))
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        response: HttpResponse = json_error(503, "database_unavailable", UNAVAILABLE_MESSAGE)
        response["Content-Length"] = str(len(response.content))
    else:
        page = _unavailable_page()
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response["Content-Length"] = str(len(page))
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    # Django's request logger would log this 5xx with its path, and the path carries the
    # recipient's code: the line above is the record, without it.
    setattr(response, "_has_been_logged", True)  # noqa: B010 - django.utils.log.log_response's own flag
    return response


@csrf_exempt
def redirect(request: HttpRequest, code: str) -> HttpResponse:
    try:
        return _redirect(request, code)
    except DatabaseUnavailableError as exc:
        return _unavailable(request, exc)


def _redirect(request: HttpRequest, code: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        refused = HttpResponseNotAllowed(["GET", "HEAD"])
        refused["Content-Length"] = "0"
        return refused
    if not CODE.fullmatch(code):
        return _not_found()  # no query for what cannot be a code
    code = code[:7]
    if request.method == "HEAD":  # a link checker or a preview's probe: redirects, counts nothing
        url = link_url(code=code)
    else:
        meta = request.META
        user_agent = meta.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT]
        address = client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), settings.TRUSTED_PROXIES)
        url = click_record(
            code=code,
            user_agent=user_agent,
            ip_hash=ip_hash(address, secret=settings.SECRET_KEY),
            is_bot=is_bot(user_agent),
        )
    # The statement only returns http(s) URLs; checked again here, so nothing else is ever a target.
    if url is None or not url[:8].lower().startswith(("http://", "https://")):
        return _not_found()
    response = HttpResponse(status=302)
    response["Location"] = url
    # Every click must reach us: no browser or proxy may answer it from a cache.
    response["Cache-Control"] = "private, no-store"
    response["Content-Length"] = "0"  # said here: no CommonMiddleware comes after ShortLinkMiddleware
    return response
