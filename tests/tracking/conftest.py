"""Tracking's tests: links and codes written as the broadcast writer writes them
(tracking.services.links_write), the broadcasts suite's shop for messages to click."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from accounts.models import Client
from tests.broadcasts.conftest import _ledger_replays, daytime, make_shop, shop  # noqa: F401 - fixtures
from tracking.models import TrackedLink
from tracking.services import links_write

URL = "https://shop.example.com/sale?utm=sms"


@dataclass
class Links:
    broadcast_id: uuid.UUID
    codes: list[str]  # in the order of the items written

    def link(self, url: str = URL) -> TrackedLink:
        return TrackedLink.objects.get(broadcast_id=self.broadcast_id, url=url)


@pytest.fixture
def write_links(db: None) -> Callable[..., Links]:
    """write_links(client, [(message id, url, code), …], broadcast_id=None) → the codes as written."""

    def _write(
        client: Client, items: list[tuple[int | None, str, str]], broadcast_id: uuid.UUID | None = None
    ) -> Links:
        broadcast_id = broadcast_id or uuid.uuid4()
        codes = links_write(client_id=client.pk, broadcast_id=broadcast_id, items=items)
        return Links(broadcast_id=broadcast_id, codes=codes)

    return _write
