"""/jina/broadcast/… — a Jina Connect user's new base URL is https://<herald>/jina (paths with or
without their trailing slash). Included before the dashboard's catch-all."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import json_error
from broadcasts.api.views import BroadcastViewSet, MessageViewSet
from tracking.api.views import TrackedLinkViewSet

from .views import JinaBroadcastViewSet

UUID = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return json_error(404, "not_found", f"No endpoint at {request.path}.")


# Jina's other broadcast pages are Herald's native views, left out of /api/schema/ at this path.
class Messages(MessageViewSet):
    schema = None


class Dashboard(BroadcastViewSet):
    schema = None


class UrlTracking(TrackedLinkViewSet):
    schema = None


broadcasts = JinaBroadcastViewSet.as_view({"get": "list", "post": "create"})
broadcast = JinaBroadcastViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    re_path(r"^$", broadcasts, name="jina-broadcasts"),
    re_path(r"^messages/?$", Messages.as_view({"get": "list"}), name="jina-messages"),
    re_path(r"^messages/(?P<pk>[0-9]+)/?$", Messages.as_view({"get": "retrieve"}), name="jina-message"),
    re_path(r"^dashboard/?$", Dashboard.as_view({"get": "dashboard"}), name="jina-dashboard"),
    re_path(r"^url-tracking/?$", UrlTracking.as_view({"get": "list"}), name="jina-url-tracking"),
    re_path(rf"^(?P<pk>{UUID})/?$", broadcast, name="jina-broadcast"),
    re_path(r"", not_found),
]
