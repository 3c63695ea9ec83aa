"""A large audience's preparation on the broadcast page: a progress bar of the recipients read so
far, the API's own `preparation` figures, updated by the poll and gone once prepared."""

from __future__ import annotations

import re

import pytest

from accounts.models import Membership
from broadcasts.models import Broadcast
from broadcasts.services.prepare_ahead import prepare_run
from tests.broadcasts.test_large_audiences import members

pytestmark = pytest.mark.django_db

R = Membership.Role


def preparation_bar(body: str) -> tuple[str, str] | None:
    """(value, max) of the preparation's progress bar, or None when the page shows none."""
    found = re.search(r'data-testid="preparation">\s*<progress max="(\d+)" value="(\d+)"', body)
    return (found.group(2), found.group(1)) if found else None


@pytest.fixture
def preparing(shop, daytime, settings) -> Broadcast:
    settings.BROADCAST_SYNC_LIMIT = 50  # a 120-member list is then "large": accepted, then prepared
    response = shop.create(contact_lists=[str(members(shop, 120).pk)], text="Big news for everyone")
    assert response.status_code == 201, response.content
    assert response.json()["preparing"] is True
    return shop.broadcast(response)


def test_the_page_shows_the_preparation_as_the_api_does(login, shop, preparing):
    Broadcast.objects.filter(pk=preparing.pk).update(preparation_processed=60)  # half a run in
    api = shop.api.get(f"/api/v1/broadcasts/{preparing.pk}/").json()
    assert (api["preparing"], api["preparation"]) == (True, {"processed": 60, "total": 120})
    web = login(R.VIEWER, shop.client)

    for path in (f"/broadcasts/{preparing.pk}/", f"/broadcasts/{preparing.pk}/progress/"):
        body = web.get(path).content.decode()
        assert preparation_bar(body) == ("60", "120")
        assert "Preparing the audience: 60 of about 120 recipients read (50.0%)" in body
    assert 'hx-trigger="every 3s"' in body  # the poll goes on while preparing


def test_the_bar_goes_once_the_audience_is_prepared(login, shop, preparing):
    web = login(R.VIEWER, shop.client)
    assert preparation_bar(web.get(f"/broadcasts/{preparing.pk}/progress/").content.decode()) == ("0", "120")

    prepare_run(broadcast_id=preparing.pk)

    assert shop.api.get(f"/api/v1/broadcasts/{preparing.pk}/").json()["preparing"] is False
    body = web.get(f"/broadcasts/{preparing.pk}/progress/").content.decode()
    assert preparation_bar(body) is None
    assert "Preparing the audience" not in body
    assert "0 of 120 messages done" in body
