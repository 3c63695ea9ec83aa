# ruff: noqa: F811 - the recorder fixture is imported, then used by name
"""Issue 21, point 1: a Sunday marketing broadcast holds French numbers for quiet hours — the
review says who waits and until when, the detail page says why the rest waits, the message log's
Reason column says it per message, and the figures are the API's. A broadcast paused for credit says
its messages wait for credit, until a top-up and resume."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Client, Membership
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast
from tests.broadcasts.conftest import FR, UG
from tests.broadcasts.recorder import recorder  # noqa: F401 - the fixture
from tests.broadcasts.test_waiting import paused_for_credit
from wallets.services import wallet_topup

pytestmark = pytest.mark.django_db

R = Membership.Role
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Paris: Sunday, quiet all day
FRENCH = [FR, "+33612345679"]


def test_quiet_hours_show_on_review_detail_and_log(login, shop, recorder):
    Client.objects.filter(pk=shop.client.pk).update(timezone="Europe/Paris")
    shop.client.refresh_from_db()
    web = login(R.MANAGER, shop.client)
    form = {
        "name": "Sunday promo",
        "channel": "sms",
        "recipients": "\n".join([*FRENCH, UG]),
        "content_mode": "text",
        "text": "Promo -20% STOP au 36180",
        "schedule_mode": "now",
        "purpose": "marketing",
    }
    with time_machine.travel(SUNDAY_NOON, tick=False):
        review = web.post("/broadcasts/new/", {**form, "step": "review"}).content.decode()
        assert 'data-testid="warning-quiet_hours"' in review
        assert "2 recipients are in quiet hours at the send time" in review
        assert "Monday 08:00 their time" in review
        assert "{&#x27;code&#x27;" not in review  # the warning's words, not a Python dict
        web.post("/broadcasts/new/", {**form, "step": "send"})
        broadcast = Broadcast.objects.get()
        dispatch_batch(broadcast)

        api = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
        assert (api["waiting"], api["queued"], api["sent"]) == (2, 0, 1)
        detail = web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
        assert "1 of 3 messages done" in detail
        assert "2 waiting for their time" in detail
        assert "2 in quiet hours in the recipient&#x27;s country — the first goes Monday 2026-11-30 08:00 CET" in detail

        log = web.get("/messages/", {"broadcast": str(broadcast.pk)}).content.decode()
        assert log.count('data-testid="wait-reason"') == 2
        assert "In quiet hours in the recipient&#x27;s country until 2026-11-30 08:00 CET" in log


def test_a_broadcast_paused_for_credit_shows_its_messages_wait_for_credit(login, shop, daytime, settings, monkeypatch):
    broadcast = paused_for_credit(shop, settings, monkeypatch)
    web = login(R.MANAGER, shop.client)
    api = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
    assert (api["waiting"], api["queued"]) == (40, 0)

    detail = web.get(f"/broadcasts/{broadcast.pk}/")
    assert [(w.reason, w.count, w.first) for w in detail.context["waiting"]] == [("insufficient_credit", 40, None)]
    body = detail.content.decode()
    assert "<li>40 waiting for credit</li>" in body  # no time is known: it goes after a top-up and resume
    assert "0 of 40 messages done (0.0%), 40 waiting for credit." in body
    assert "queued to go now" not in body
    log = web.get("/messages/", {"broadcast": str(broadcast.pk)}).content.decode()
    assert log.count('<span data-testid="wait-reason">Waiting for credit</span>') == 40

    wallet_topup(wallet=shop.refresh(), amount=Decimal("10"), note="top-up")
    assert web.post(f"/broadcasts/{broadcast.pk}/resume/").status_code == 302
    detail = web.get(f"/broadcasts/{broadcast.pk}/")
    assert detail.context["waiting"] == []
    assert "waiting for credit" not in detail.content.decode()
    assert 'data-testid="wait-reason"' not in web.get("/messages/", {"broadcast": str(broadcast.pk)}).content.decode()
