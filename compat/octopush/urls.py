"""/octopush/v1/public/… — an Octopush API v1 user's new base URL (with or without a trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from .balance import WalletCheckBalanceView
from .base import not_found
from .send import SmsCampaignSendView

urlpatterns = [
    re_path(r"^sms-campaign/send/?$", SmsCampaignSendView.as_view(), name="octopush-sms-campaign-send"),
    re_path(r"^wallet/check-balance/?$", WalletCheckBalanceView.as_view(), name="octopush-wallet-check-balance"),
    re_path(r"", not_found),
]
