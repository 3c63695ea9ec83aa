"""The broadcast page offers only the actions that apply to the status now, by the services' own rule
(broadcasts.states.ACTIONS), and its polled fragment carries the buttons as the status moves."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ConflictError
from accounts.models import Membership
from broadcasts import services
from broadcasts.models import Broadcast, Message
from broadcasts.selectors import broadcast_stats

pytestmark = pytest.mark.django_db

R = Membership.Role
B = Broadcast.Status
PHONES = ["+256772000001", "+256772000002", "+254712000001"]

# What each button on the page does: the same service the confirmation step (or the test form) calls.
SERVICES: dict[str, Callable[[Broadcast], Any]] = {
    "pause": lambda b: services.broadcast_pause(broadcast=b),
    "resume": lambda b: services.broadcast_resume(broadcast=b),
    "cancel": lambda b: services.broadcast_cancel(broadcast=b),
    "retry-failed": lambda b: services.broadcast_retry_failed(broadcast=b),
    "test": lambda b: services.broadcast_test(broadcast=b, recipients=["+256772000009"]),
}


class _UndoError(Exception):
    pass


def service_accepts(slug: str, broadcast: Broadcast) -> bool:
    """Whether the service does the action (then undone), or refuses it as not applying (a 409)."""
    try:
        with transaction.atomic():
            SERVICES[slug](Broadcast.objects.get(pk=broadcast.pk))
            raise _UndoError
    except _UndoError:
        return True
    except ConflictError:
        return False


def shown(body: str) -> set[str]:
    return set(re.findall(r'id="action-([a-z-]+)"', body))


@pytest.fixture
def broadcast(shop: Any, daytime: Any) -> Broadcast:
    """Three messages: one sent, one failed, one still queued."""
    created = shop.broadcast(shop.create(recipients=PHONES))
    now = timezone.now()
    ids = list(Message.objects.filter(broadcast=created).order_by("id").values_list("id", flat=True))
    Message.objects.filter(pk=ids[0]).update(status="sent", sent_at=now)
    Message.objects.filter(pk=ids[1]).update(status="failed", sent_at=now, failed_at=now, error_code="rejected")
    return created


def _set_status(broadcast: Broadcast, status: str) -> None:
    Broadcast.objects.filter(pk=broadcast.pk).update(status=status)


@pytest.mark.parametrize("failed", [1, 0], ids=["with-a-failure", "no-failure"])
@pytest.mark.parametrize("status", B.values)
def test_the_page_offers_exactly_what_the_services_accept(login, shop, broadcast, status, failed):
    if not failed:
        Message.objects.filter(broadcast=broadcast, status="failed").update(status="delivered", error_code="")
    _set_status(broadcast, status)
    assert broadcast_stats(broadcast_ids=[broadcast.pk])[broadcast.pk].failed == failed

    body = login(R.MANAGER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()

    accepted = {slug for slug in SERVICES if service_accepts(slug, broadcast)}
    assert shown(body) == accepted
    if not accepted:
        assert "No action applies to a" in body


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (B.SCHEDULED, {"cancel", "test"}),
        (B.QUEUED, {"pause", "cancel", "test"}),
        (B.SENDING, {"pause", "cancel", "test"}),
        (B.PAUSED, {"resume", "cancel", "test"}),
        (B.PARTIALLY_SENT, {"retry-failed", "test"}),
        (B.CANCELLED, set()),
    ],
)
def test_the_buttons_by_status(login, shop, broadcast, status, expected):
    _set_status(broadcast, status)
    assert shown(login(R.MANAGER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()) == expected


def test_the_polled_fragment_brings_the_buttons_of_the_status_now(login, shop, broadcast):
    web = login(R.MANAGER, shop.client)
    _set_status(broadcast, B.SENDING)
    running = web.get(f"/broadcasts/{broadcast.pk}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'<section class="card" id="actions"[^>]* hx-swap-oob="true"', running)
    assert shown(running) == {"pause", "cancel", "test"}
    assert 'hx-trigger="every 3s"' in running

    _set_status(broadcast, B.PARTIALLY_SENT)  # the dispatcher completed it meanwhile
    ended = web.get(f"/broadcasts/{broadcast.pk}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert shown(ended) == {"retry-failed", "test"}
    assert "hx-trigger" not in ended  # the last poll
    assert "<html" not in ended


def test_the_full_page_does_not_mark_its_actions_out_of_band(login, shop, broadcast):
    body = login(R.MANAGER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert len(re.findall(r'\sid="actions"', body)) == 1
    assert "hx-swap-oob" not in body


def test_a_viewer_sees_no_buttons(login, shop, broadcast):
    body = login(R.VIEWER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert shown(body) == set()
    assert "Viewers can follow a broadcast" in body
    fragment = login(R.VIEWER, shop.client).get(f"/broadcasts/{broadcast.pk}/progress/").content.decode()
    assert shown(fragment) == set()


def test_a_confirmation_left_open_says_why_the_action_no_longer_applies(login, shop, broadcast):
    _set_status(broadcast, B.SENT)
    web = login(R.MANAGER, shop.client)
    response = web.get(f"/broadcasts/{broadcast.pk}/pause/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Only a queued or sending broadcast can be paused. This one is completed." in body
    assert '<form method="post">' not in body
    # The confirmation of an action that applies still asks first.
    assert '<form method="post">' in web.get(f"/broadcasts/{broadcast.pk}/retry-failed/").content.decode()


def test_a_cancelled_broadcast_offers_no_test_send(login, shop, broadcast):
    _set_status(broadcast, B.CANCELLED)
    body = login(R.MANAGER, shop.client).get(f"/broadcasts/{broadcast.pk}/test/").content.decode()
    assert "A cancelled broadcast cannot be tested." in body
    assert "Send the test" not in body


def test_a_stale_post_is_still_refused_by_the_service(login, shop, broadcast):
    _set_status(broadcast, B.SENT)
    response = login(R.MANAGER, shop.client).post(f"/broadcasts/{broadcast.pk}/pause/", follow=True)
    assert [m.tags for m in response.context["messages"]] == ["error"]
    assert Broadcast.objects.get(pk=broadcast.pk).status == B.SENT
