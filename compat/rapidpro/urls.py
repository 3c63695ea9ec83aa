"""/api/v2/<endpoint>.json, also without `.json` (RapidPro serves its HTML docs there; Herald
answers JSON on both)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, re_path

from . import broadcasts, contact_actions, contacts, fields, groups, messages, org, stubs
from .base import not_found

ENDPOINTS: dict[str, Any] = {
    "broadcasts": broadcasts.BroadcastsView,
    "messages": messages.MessagesView,
    "contacts": contacts.ContactsView,
    "groups": groups.GroupsView,
    "contact_actions": contact_actions.ContactActionsView,
    "fields": fields.FieldsView,
    "org": org.OrgView,
    "workspace": org.OrgView,
    "labels": stubs.EmptyListView,
    "channels": stubs.EmptyListView,
    "message_actions": stubs.MessageActionsView,
}


def _route(name: str, view: Any) -> URLPattern:
    return re_path(rf"^{name}(?:\.json)?$", view.as_view(), name=f"rapidpro-{name.replace('_', '-')}")


urlpatterns = [*(_route(name, view) for name, view in ENDPOINTS.items()), re_path(r"", not_found)]
