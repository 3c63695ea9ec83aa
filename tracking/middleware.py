"""`/r/{code}` answered before the middleware that a short link never needs.

A click is the hottest request Herald serves, and it needs nothing of a dashboard request: no
session, no user, no CSRF, no messages, no htmx, no lockout. Placed right after Django's
SecurityMiddleware (so HTTPS redirects, HSTS, nosniff and the referrer policy still apply, and the
request id too), this answers every `/r/` path itself with the redirect view and hands everything
else on. The URL route `r/<code>` stays for `reverse()` and for a stack built without this class.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views import redirect

PREFIX = "/r/"


class ShortLinkMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(PREFIX):
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it
            return redirect(request, path[len(PREFIX) :])
        return self.get_response(request)
