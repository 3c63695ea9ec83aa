"""/octopush-legacy/api/… — `octopush.DOMAIN = "https://<herald>/octopush-legacy"` (the package
appends `/api/sms` and `/api/balance`); a trailing slash is accepted, as in Octopush's curl examples."""

from __future__ import annotations

from django.urls import re_path

from .balance import LegacyBalanceView
from .base import not_found
from .send import LegacySmsView

urlpatterns = [
    re_path(r"^sms/?$", LegacySmsView.as_view(), name="octopush-legacy-sms"),
    re_path(r"^balance/?$", LegacyBalanceView.as_view(), name="octopush-legacy-balance"),
    re_path(r"", not_found),
]
