"""Base classes every Herald API view builds on: permissions, throttle scope, Idempotency-Key."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.idempotency import (
    MAX_KEY_LENGTH,
    idempotency_abandon,
    idempotency_begin,
    idempotency_complete,
    request_fingerprint,
)
from accounts.models import Client, IdempotencyRecord

from .inputs import refuse_nul
from .permissions import UNSET
from .principal import Principal, get_principal
from .throttles import API, rate_limit_settle

REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location", "Retry-After")


class _Replay(Exception):  # noqa: N818 - control flow, never escapes the view
    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


class HeraldViewMixin:
    """Mixed into APIView/GenericViewSet. Subclasses set `write_scope` (fail-closed by default)."""

    read_scope: str | None = "read"
    write_scope: object = UNSET
    session_only = False
    allowed_roles: tuple[str, ...] | None = None
    throttle_scope = API
    _idempotency: IdempotencyRecord | None = None

    @property
    def principal(self) -> Principal:
        return get_principal(self.request)  # type: ignore[attr-defined]

    @property
    def client(self) -> Client:
        return self.principal.client

    def get_throttle_scope(self, request: Request) -> str:
        return self.throttle_scope

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        refuse_nul(request)  # before anything, the idempotency record included, is written
        if request.method != "POST":
            return
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationError(
                {"Idempotency-Key": [f"The Idempotency-Key header must be 1–{MAX_KEY_LENGTH} printable characters."]}
            )
        fingerprint = request_fingerprint(
            method=request.method, path=request.path, data=request.data, files=request.FILES.dict()
        )
        record, fresh = idempotency_begin(client=self.client, key=key, fingerprint=fingerprint)
        if not fresh:
            raise _Replay(record)
        self._idempotency = record

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            record = exc.record
            headers = {**record.response_headers, REPLAYED_HEADER: "true"}
            return Response(record.response_body, status=record.response_status, headers=headers)
        return super().handle_exception(exc)  # type: ignore[misc]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            # finalize_response settles the key; should an exception escape before it does, give the
            # key (and its lock) up so the client's retry runs instead of waiting out the timeout.
            record, self._idempotency = self._idempotency, None
            if record is not None:
                idempotency_abandon(record=record)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        rate_limit_settle(request, status_code=response.status_code, replayed=response.has_header(REPLAYED_HEADER))
        record, self._idempotency = self._idempotency, None
        if record is not None:
            if response.status_code >= 500 or response.status_code == 429:
                idempotency_abandon(record=record)
            else:
                headers = {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}
                idempotency_complete(
                    record=record, status=response.status_code, body=getattr(response, "data", None), headers=headers
                )
        return response


class HeraldAPIView(HeraldViewMixin, APIView):
    pass


class HeraldGenericViewSet(HeraldViewMixin, viewsets.GenericViewSet):
    """Subclasses set `queryset` (for the schema) and may override `get_client_queryset()`."""

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no tenant
            return super().get_queryset().none()
        return self.get_client_queryset()

    def get_client_queryset(self) -> QuerySet[Any]:
        """This client's objects only: another client's ids answer 404."""
        return super().get_queryset().filter(client=self.client)
