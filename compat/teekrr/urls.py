"""/teekrr/… — a Teekrr user's new base URL is `https://<herald>/teekrr` (with or without a trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from .base import not_found
from .sms import SmsView

urlpatterns = [
    re_path(r"^sms/?$", SmsView.as_view(), name="teekrr-sms"),
    re_path(r"", not_found),
]
