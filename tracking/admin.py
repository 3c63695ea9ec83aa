"""Links, codes and clicks, read-only: they are written by broadcasts and by the redirect."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from .models import Click, LinkCode, TrackedLink

CODE = re.compile(r"[0-9A-Za-z]{7}")


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Searches by exact code (case-sensitive, as codes are), broadcast id or message id, each
    through an index; Django's `=field` search would compare case-insensitively and scan."""

    code_field = "code"
    broadcast_field = "broadcast_id"
    message_field: str | None = "message_id"
    search_fields = ("code",)  # shows the search box; get_search_results does the searching
    search_help_text = "A short-link code, a broadcast id or a message id."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(pk__in=[])
        if CODE.fullmatch(term):
            match |= Q(**{self.code_field: term})
        with contextlib.suppress(ValueError):
            match |= Q(**{self.broadcast_field: uuid.UUID(term)})
        if self.message_field and term.isdigit() and int(term) < 2**63:
            match |= Q(**{self.message_field: int(term)})
        # A link found through one of its codes is found once per matching code: distinct.
        return queryset.filter(match), "__" in self.code_field

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrackedLink)
class TrackedLinkAdmin(ReadOnlyAdmin):
    list_display = (
        "url", "broadcast_id", "client", "recipients", "clicks", "unique_clicks", "bot_clicks", "last_click_at",
        "created_at",
    )  # fmt: skip
    list_filter = ("client", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("client",)
    code_field = "codes__code"
    message_field = "codes__message_id"
    ordering = ("-created_at",)
    show_full_result_count = False


@admin.register(LinkCode)
class LinkCodeAdmin(ReadOnlyAdmin):
    list_display = ("code", "link", "message_id")
    list_select_related = ("link",)
    list_filter = ("link__client",)
    broadcast_field = "link__broadcast_id"
    show_full_result_count = False


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ("clicked_at", "code_id", "link", "message_id", "is_bot", "processed")
    list_select_related = ("link",)
    list_filter = ("is_bot", "processed", ("clicked_at", admin.DateFieldListFilter), "link__client")
    code_field = "code_id"
    broadcast_field = "link__broadcast_id"
    ordering = ("-id",)
    show_full_result_count = False
