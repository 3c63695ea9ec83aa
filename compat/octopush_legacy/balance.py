"""`POST /octopush-legacy/api/balance` (COMPAT.md §3.2): `<balance type="FR">` and
`<balance type="XXX">`. Octopush's legacy balance is a number of SMS — "your remaining Premium
France SMS balance" and "Low Cost France" — so Herald answers the same: how many one-segment SMS
to France the wallet's available credit buys at each tier, priced exactly as API v1's
`check-balance?country_code=FR` prices them (the client's own price, the exchange rate), floored
to a whole number. A tier with no route to France buys none: 0."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.throttles import API
from accounts.models import Scope
from broadcasts.models import Broadcast
from compat.octopush.balance import sms_bought
from compat.octopush.base import NO_CREDIT
from wallets.selectors import wallet_get

from .base import LegacyError, LegacyView, add, octopush_root, xml_document

BALANCE_COUNTRY = "FR"
TYPES = (("FR", Broadcast.Tier.PREMIUM), ("XXX", Broadcast.Tier.LOW_COST))


class LegacyBalanceView(LegacyView):
    write_scope = Scope.READ.value  # a POST that only reads
    throttle_scope = API

    def post(self, request: Request) -> Response:
        wallet = wallet_get(client=self.client)
        if wallet is None:
            raise LegacyError(NO_CREDIT, "This client has no wallet.")
        root = octopush_root()
        for sms_type, tier in TYPES:
            amount = sms_bought(wallet=wallet, country_code=BALANCE_COUNTRY, tier=tier)
            add(root, "balance", amount or 0, type=sms_type)
        return Response(xml_document(root))
