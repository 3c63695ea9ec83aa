"""RapidPro endpoints Herald has no concept for, answered so that a migrating script goes on:
labels and channels as empty pages (connectors are platform-wide: listing them would show other
tenants' providers), message actions accepted and ignored."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from .base import RapidProView


class EmptyListView(RapidProView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"next": None, "previous": None, "results": []})


class MessageActionsView(RapidProView):
    write_scope = "read"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(status=204)
