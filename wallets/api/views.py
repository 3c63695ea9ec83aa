"""/api/v1/wallet/, /api/v1/wallet/transactions/ and /api/v1/prices/ (SPEC §7), `read` scope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldAPIView, HeraldGenericViewSet
from accounts.api.pagination import HeraldCursorPagination
from accounts.exceptions import NotFoundError
from accounts.models import Scope
from wallets.models import LedgerEntry, Route, Wallet
from wallets.selectors import exchange_rates, ledger_entry_list, price_list, wallet_get

from .filters import LedgerEntryFilter, PriceFilter
from .serializers import LedgerEntrySerializer, PriceSerializer, WalletSerializer


class WalletMixin:
    client: Any

    def get_wallet(self) -> Wallet:
        wallet = wallet_get(client=self.client)
        if wallet is None:
            raise NotFoundError("This client has no wallet.")
        return wallet


class WalletView(WalletMixin, HeraldAPIView):
    read_scope = Scope.READ

    @extend_schema(responses=WalletSerializer, summary="The client's wallet")
    def get(self, request: Request) -> Response:
        return Response(WalletSerializer(self.get_wallet()).data)


class LedgerEntryViewSet(mixins.ListModelMixin, HeraldGenericViewSet):
    """The wallet's ledger, newest first."""

    queryset = LedgerEntry.objects.all()
    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilter
    read_scope = Scope.READ

    def get_client_queryset(self) -> QuerySet[LedgerEntry]:
        return ledger_entry_list(client=self.client)


class PricePagination(HeraldCursorPagination):
    # A catalogue reads best by country; the cursor keeps its place among equal countries by offset.
    ordering = ("country_code", "channel", "tier", "prefix", "route_code", "pk")


class PriceViewSet(WalletMixin, mixins.ListModelMixin, HeraldGenericViewSet):
    """Active routes priced for this client (its own prices applied), by country."""

    queryset = Route.objects.all()
    serializer_class = PriceSerializer
    filterset_class = PriceFilter
    pagination_class = PricePagination
    read_scope = Scope.READ

    def get_client_queryset(self) -> QuerySet[Route]:
        return price_list(client=self.client)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not getattr(self, "swagger_fake_view", False):
            context["wallet_currency"] = self.get_wallet().currency
            context["rates"] = exchange_rates()
        return context
