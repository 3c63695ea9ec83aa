"""`GET /octopush/v1/public/wallet/check-balance` (COMPAT.md §3.1): the wallet's available credit
`{"amount", "unit"}` in its ISO currency; with `country_code` (and `product_name`, default
`sms_premium`) the number of SMS it buys there: `{"amount": N, "unit": "sms_premium", "wallet_packs": []}`,
N = floor(available / one segment's price in the wallet currency), priced by the wallets selectors
exactly as a one-segment message to that country would be."""

from __future__ import annotations

import phonenumbers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.throttles import API
from accounts.models import Scope
from broadcasts.models import Broadcast
from wallets.models import Wallet
from wallets.selectors import segment_cost_for_country, wallet_get

from .base import COUNTRY_NOT_SERVED, LOW_COST_UNAVAILABLE, NO_COUNTRY, NO_CREDIT, OctopushError, OctopushView

PRODUCTS = {"sms_premium": Broadcast.Tier.PREMIUM, "sms_low_cost": Broadcast.Tier.LOW_COST}
DEFAULT_PRODUCT = "sms_premium"


def sms_bought(*, wallet: Wallet, country_code: str, tier: str) -> int | None:
    """How many one-segment SMS to `country_code` at `tier` the wallet's available credit buys
    (exactly: Decimal floor division), or None when no route serves that country at that tier.
    Shared with the legacy API's balance (compat/octopush_legacy)."""
    cost = segment_cost_for_country(wallet=wallet, country_code=country_code, channel="sms", tier=tier)
    if cost is None:
        return None
    return int(wallet.available // cost) if cost > 0 else 0


class WalletCheckBalanceView(OctopushView):
    read_scope = Scope.READ.value
    throttle_scope = API

    def get(self, request: Request) -> Response:
        wallet = wallet_get(client=self.client)
        if wallet is None:
            raise OctopushError(NO_CREDIT, "This client has no wallet.")
        country = request.query_params.get("country_code", "").strip().upper()
        if not country:
            return Response({"amount": wallet.available, "unit": wallet.currency})
        product = request.query_params.get("product_name", "").strip().lower()
        product = product if product in PRODUCTS else DEFAULT_PRODUCT  # Octopush's default type
        if len(country) != 2 or not phonenumbers.country_code_for_region(country):
            raise OctopushError(NO_COUNTRY, f"'{country}' is not an ISO 3166 country code.")
        tier = PRODUCTS[product]
        amount = sms_bought(wallet=wallet, country_code=country, tier=tier)
        if amount is None:
            premium = (
                segment_cost_for_country(
                    wallet=wallet, country_code=country, channel="sms", tier=Broadcast.Tier.PREMIUM
                )
                if tier == Broadcast.Tier.LOW_COST
                else None
            )
            raise OctopushError(LOW_COST_UNAVAILABLE if premium is not None else COUNTRY_NOT_SERVED)
        return Response({"amount": amount, "unit": product, "wallet_packs": []})
