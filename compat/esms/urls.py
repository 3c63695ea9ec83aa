"""/api/messages/… — an eSMS Africa user's new base URL is https://<herald>/api (with or without a
trailing slash on the path). Included before Herald's /api/ catch-all."""

from __future__ import annotations

from django.urls import re_path

from .views import BulkPrecheckView, SendBulkView

urlpatterns = [
    re_path(r"^bulk-precheck/?$", BulkPrecheckView.as_view(), name="esms-bulk-precheck"),
    re_path(r"^send-bulk/?$", SendBulkView.as_view(), name="esms-send-bulk"),
]
