"""`GET /r/{code}`: the short link's redirect, public (no login, session or CSRF), as cheap as
Django allows: one SQL statement per click, nothing read from the session or the user (so the
session and auth middleware do no work), nothing logged (a click's code, address and user agent
are a recipient's personal data)."""

from __future__ import annotations

import re
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt

from accounts.net import client_ip

from .bots import is_bot
from .clicks import MAX_USER_AGENT, click_record, ip_hash, link_url

CODE = re.compile(r"[0-9A-Za-z]{7}/?")


@cache
def _not_found_page() -> bytes:
    return render_to_string("tracking/404.html").encode()


def _not_found() -> HttpResponse:
    page = _not_found_page()
    response = HttpResponse(page, status=404, content_type="text/html; charset=utf-8")
    response["Content-Length"] = str(len(page))
    return response


@csrf_exempt
def redirect(request: HttpRequest, code: str) -> HttpResponse:
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
