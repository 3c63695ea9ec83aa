"""Cursor pagination of SPEC §4: newest first, `?limit=` 1–1000 (default 50)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

MAX_LIMIT = 1000


class HeraldCursorPagination(CursorPagination):
    page_size = 50
    # DRF's cursor keeps the first ordering field's value plus an offset among rows that share it,
    # and stops counting that offset at 1,000 by default: past it, `next` repeats the same page for
    # ever (rows written in one statement share `created_at`/`updated_at`). Counted as far as it goes.
    offset_cutoff = 10_000_000
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    ordering: tuple[str, ...] = ("-created_at", "-pk")

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_LIMIT:
            raise ValidationError({"limit": [f"limit must be a whole number from 1 to {MAX_LIMIT}."]}, code="invalid")
        return value

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {"cursor": ["This cursor is not valid; use the next/previous URLs as given."]}
            ) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": self.page_size}
        return params
