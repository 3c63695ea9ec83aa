"""A tenant ready to send: a USD wallet with credit, simulator routes for UG/KE/FR/US, a sender.

After every database test, each wallet must still equal the replay of its ledger (the wallets
suite's invariant), so no broadcast flow can leave money half-moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from accounts.models import Client, Scope
from broadcasts.counters import Counts
from broadcasts.models import Broadcast, BroadcastCount, Connector
from tests.broadcasts.recorder import recorder  # noqa: F401 - a fixture for this package
from tests.conftest import HeraldAPIClient
from tests.factories.accounts import ClientFactory
from tests.factories.broadcasts import ConnectorFactory, SenderFactory
from tests.factories.wallets import ExchangeRateFactory, RouteFactory, make_wallet
from tests.wallets.conftest import assert_ledger_consistent
from wallets.models import Wallet

UG = "+256772000001"
KE = "+254712000001"
FR = "+33612345678"
US = "+12125550101"


# A Tuesday afternoon in Europe, morning in New York: outside every quiet-hour rule.
DAYTIME = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture
def daytime() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(DAYTIME, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _ledger_replays(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("django_db") is not None or "db" in request.fixturenames:
        assert_ledger_consistent()
        assert_counters_exact()


def assert_counters_exact() -> None:
    """Every broadcast's counters equal a recount of its messages (the ledger replay's idea)."""
    from broadcasts.counters import counts_for, counts_recount

    recount = counts_recount()
    ids = set(recount) | set(BroadcastCount.objects.values_list("broadcast_id", flat=True).distinct())
    kept = counts_for(broadcast_ids=ids)
    assert {i: kept[i] for i in ids if kept[i] != recount.get(i, Counts())} == {
        i: recount.get(i, Counts()) for i in ids if kept[i] != recount.get(i, Counts())
    }


@dataclass
class Shop:
    client: Client
    wallet: Wallet
    api: HeraldAPIClient
    connector: Connector

    def create(self, **body: Any) -> Any:
        payload = {"name": "Promo", "text": "Hello {{first_name|there}}", **body}
        return self.api.post("/api/v1/broadcasts/", payload, format="json")

    def precheck(self, **body: Any) -> Any:
        payload = {"name": "Promo", "text": "Hello {{first_name|there}}", **body}
        return self.api.post("/api/v1/broadcasts/precheck/", payload, format="json")

    def broadcast(self, response: Any) -> Broadcast:
        return Broadcast.objects.get(pk=response.json()["id"])

    def refresh(self) -> Wallet:
        self.wallet.refresh_from_db()
        return self.wallet


def add_routes() -> None:
    for country, currency, price, rate in [
        ("UG", "UGX", "35.00", "0.000268571"),
        ("KE", "KES", "1.20", "0.0077"),
        ("FR", "EUR", "0.065", "1.08"),
    ]:
        code = "ESMS_UG" if country == "UG" else f"SIM_{country}"  # ESMS_UG: the seed's worked example
        RouteFactory(country_code=country, currency=currency, price_per_segment=Decimal(price), route_code=code)
        ExchangeRateFactory(from_currency=currency, to_currency="USD", rate=Decimal(rate))
    RouteFactory(country_code="US", currency="USD", price_per_segment=Decimal("0.0079"), route_code="SIM_US")
    for channel in ("whatsapp", "rcs"):
        RouteFactory(
            channel=channel,
            country_code="UG",
            currency="USD",
            price_per_segment=Decimal("0.008"),
            route_code=f"SIM_{channel.upper()}_UG",
        )
    RouteFactory(
        channel="telegram", country_code="ZZ", currency="USD", price_per_segment=Decimal("0.001"), route_code="SIM_TG"
    )


@pytest.fixture
def make_shop(make_api: Callable[..., HeraldAPIClient], db: None) -> Callable[..., Shop]:
    def _make(
        balance: str = "100", scopes: list[str] | None = None, client: Client | None = None, **connector: Any
    ) -> Shop:
        client = client or ClientFactory()
        wallet = make_wallet(client=client, balance=balance)
        if not Connector.objects.filter(name="simulator").exists():
            add_routes()
        plugin = ConnectorFactory(**connector)
        for channel in ("whatsapp", "telegram", "rcs"):
            ConnectorFactory(name=f"simulator-{channel}", channel=channel)
        SenderFactory(client=client, sender="Herald")
        api = make_api(scopes=scopes or list(Scope.values), client=client)
        return Shop(client=client, wallet=wallet, api=api, connector=plugin)

    return _make


@pytest.fixture
def shop(make_shop: Callable[..., Shop]) -> Shop:
    return make_shop()
