"""The app's URLs plus, for bench/bench_redirect.py only: a bare Django view answering 302 (the
yardstick) and the redirect with a click whose commit waits for its WAL flush (for comparison)."""

import json
import time
from functools import lru_cache

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as app_urlpatterns
from tracking.bots import is_bot
from tracking.clicks import click_record, ip_hash, link_url


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect("https://shop.example.com/sale?utm=sms")


@csrf_exempt
def durable(request: HttpRequest, code: str) -> HttpResponse:
    agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    url = click_record(
        code=code,
        user_agent=agent,
        ip_hash=ip_hash(request.META.get("REMOTE_ADDR", ""), secret=settings.SECRET_KEY),
        is_bot=is_bot(agent),
        wait_for_flush=True,
    )
    if url is None:
        return HttpResponse(status=404)
    return HttpResponse(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})


@csrf_exempt
def lookup(request: HttpRequest, code: str) -> HttpResponse:
    """The stored URL read, nothing written: the floor of any design that asks PostgreSQL."""
    url = link_url(code=code)
    return HttpResponse(status=302, headers={"Location": url or "/"})


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@csrf_exempt
def via_redis(request: HttpRequest, code: str) -> HttpResponse:
    """The alternative: the URL cached in Redis and the click pushed there, in one round trip."""
    agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    address = ip_hash(request.META.get("REMOTE_ADDR", ""), secret=settings.SECRET_KEY)
    payload = json.dumps([code, time.time(), agent, address, is_bot(agent)])
    pipe = _redis().pipeline(transaction=False)
    pipe.get("trk:u:" + code)
    pipe.rpush("trk:clicks", payload)
    url, _n = pipe.execute()
    if url is None:
        url = link_url(code=code)
        _redis().set("trk:u:" + code, url or "")
    else:
        url = url.decode()
    return HttpResponse(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})


# Side by side with /r/ in the resolver's list (just before it), so both walk the same patterns.
_at = next(i for i, p in enumerate(app_urlpatterns) if getattr(p, "name", None) == "tracking-redirect")
urlpatterns = [
    *app_urlpatterns[:_at],
    path("bare/", bare),
    re_path(r"^durable/(?P<code>[0-9A-Za-z]{7})$", durable),
    re_path(r"^lookup/(?P<code>[0-9A-Za-z]{7})$", lookup),
    re_path(r"^redis/(?P<code>[0-9A-Za-z]{7})$", via_redis),
    *app_urlpatterns[_at:],
]
