"""Test-only endpoints that exercise the shared API machinery before real endpoints exist."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldAPIView
from accounts.exceptions import ConflictError, InsufficientCreditError
from config.urls import urlpatterns as project_urlpatterns

EXECUTIONS: list[str] = []
SLOW_GATE = threading.Event()
SLOW_STARTED = threading.Event()


class EchoSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=1, required=False)
    items = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()), required=False)


class BoomView(HeraldAPIView):
    read_scope = None

    def get(self, request: Request) -> Response:
        raise RuntimeError("internal detail: password=hunter2 at /srv/herald/secret.py")


class EchoView(HeraldAPIView):
    write_scope = "contacts"

    def post(self, request: Request) -> Response:
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = uuid.uuid4().hex
        EXECUTIONS.append(run)
        return Response({"echo": serializer.validated_data, "run": run}, status=201)


class SlowView(HeraldAPIView):
    write_scope = "contacts"

    def post(self, request: Request) -> Response:
        SLOW_STARTED.set()
        SLOW_GATE.wait(timeout=10)
        return Response({"done": True}, status=201)


class SendView(HeraldAPIView):
    write_scope = "send_sms"
    throttle_scope = "send"

    def post(self, request: Request) -> Response:
        return Response({"sent": True}, status=201)


class SendEchoView(EchoView):
    """Counted against SEND_RATE_LIMIT, and refuses a bad body with a 400."""

    write_scope = "send_sms"
    throttle_scope = "send"


class ConflictView(HeraldAPIView):
    write_scope = None

    def post(self, request: Request) -> Response:
        raise ConflictError("A sent broadcast cannot be paused.")


class CreditView(HeraldAPIView):
    write_scope = None

    def post(self, request: Request) -> Response:
        raise InsufficientCreditError("Needs 12.50 USD; 3.00 USD available.")


class ServerErrorView(HeraldAPIView):
    write_scope = "contacts"

    def post(self, request: Request) -> Response:
        EXECUTIONS.append("500")
        raise RuntimeError("boom")


def plain_django_view(request: HttpRequest) -> HttpResponse:
    """Not a DRF view, so Django's CSRF middleware guards it."""
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/test/plain/", plain_django_view),
    path("api/v1/test/boom/", BoomView.as_view()),
    path("api/v1/test/echo/", EchoView.as_view()),
    path("api/v1/test/slow/", SlowView.as_view()),
    path("api/v1/test/send/", SendView.as_view()),
    path("api/v1/test/send-echo/", SendEchoView.as_view()),
    path("api/v1/test/conflict/", ConflictView.as_view()),
    path("api/v1/test/credit/", CreditView.as_view()),
    path("api/v1/test/server-error/", ServerErrorView.as_view()),
    *project_urlpatterns,
]
