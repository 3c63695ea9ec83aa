"""A tenant's own connector (SPEC §10, issue 23): a connector with a `client` carries only that
client's broadcasts — the client's routes through it come first, another client never sees or takes
them, and dispatch refuses a message of another client planned through it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from broadcasts.dispatch import dispatch_run
from broadcasts.models import Broadcast, Connector, Message
from broadcasts.services import broadcasts_tick, connector_create
from tests.factories.wallets import RouteFactory
from wallets.selectors import reservation_state

from .conftest import UG

DE = "+4915112345678"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_shops(make_shop):
    """Shop A with its own connector and routes (UG, dearer than the platform's, and DE, which no
    platform route serves); shop B, another tenant on the same platform."""
    a, b = make_shop(), make_shop()
    connector_create(name="a-own", channel="sms", backend="simulator", config={"delay": 0}, client=a.client)
    RouteFactory(country_code="UG", connector="a-own", route_code="A_OWN_UG", price_per_segment=Decimal("50"))
    RouteFactory(country_code="DE", connector="a-own", route_code="A_OWN_DE", currency="USD",
                 price_per_segment=Decimal("0.05"))  # fmt: skip
    return a, b


def _routes(shop):
    sent = Message.objects.filter(client=shop.client).exclude(status="skipped")
    return {(m.connector, m.route_code) for m in sent}


def test_a_tenants_own_connector_carries_its_broadcasts_first_and_no_one_elses(two_shops, daytime):
    a, b = two_shops
    assert a.create(recipients=[UG, DE]).status_code == 201
    response = b.create(recipients=[UG, DE])
    assert response.status_code == 201, response.content
    # A: its own routes, the UG one although the platform's is cheaper.
    assert _routes(a) == {("a-own", "A_OWN_UG"), ("a-own", "A_OWN_DE")}
    # B: the platform's UG route; DE has no route for B at all.
    assert _routes(b) == {("simulator", "ESMS_UG")}
    assert response.json()["skipped"]["unroutable"] == 1


def test_another_tenants_routes_are_not_in_its_price_list_nor_its_precheck(two_shops, daytime):
    a, b = two_shops
    codes = {row["route_code"] for row in b.api.get("/api/v1/prices/?channel=sms").json()["results"]}
    assert not codes & {"A_OWN_UG", "A_OWN_DE"}
    assert "ESMS_UG" in codes
    own = {row["route_code"] for row in a.api.get("/api/v1/prices/?channel=sms").json()["results"]}
    assert {"A_OWN_UG", "A_OWN_DE"} <= own
    check = b.precheck(recipients=[DE]).json()
    assert (check["total_contacts"], check["unroutable_count"]) == (0, 1)


def test_dispatch_refuses_a_message_of_another_client_through_an_own_connector(two_shops, daytime):
    """A route edited after B's scheduled broadcast was planned points at A's connector: when it
    goes, dispatch fails that message (connector_not_allowed) and gives its credit back; A's account
    carries nothing of B's."""
    _a, b = two_shops
    at = timezone.now() + timedelta(minutes=15)
    response = b.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at.isoformat())
    broadcast = b.broadcast(response)
    Message.objects.filter(broadcast=broadcast).update(connector="a-own")
    daytime.shift(timedelta(minutes=16))
    broadcasts_tick()
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.error_code) == ("failed", "connector_not_allowed")
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == 0
    assert Broadcast.objects.get(pk=broadcast.pk).status == "failed"


def test_createconnector_takes_the_owning_client(make_shop):
    shop = make_shop()
    out, err = StringIO(), StringIO()
    call_command("createconnector", "acme-bot", "--channel", "telegram", "--backend", "simulator",
                 "--client", str(shop.client.pk), stdout=out, stderr=err)  # fmt: skip
    connector = Connector.objects.get(name="acme-bot")
    assert out.getvalue().strip().splitlines()[-1] == str(connector.pk)
    assert connector.client_id == shop.client.pk
    assert "own" in err.getvalue()
    with pytest.raises(CommandError, match="No client"):
        call_command("createconnector", "x", "--backend", "simulator", "--client", "not-a-uuid", stdout=StringIO())
    assert Connector.objects.filter(client__isnull=False).count() == 1  # nothing made by the refusal
