"""Rows written in one statement share `created_at`/`updated_at`. DRF's cursor pages them by an
offset among equals that it stops counting at 1,000 by default, after which `next` repeated the same
page for ever (found by bench/bench_compat.py: the RapidPro client looped on 10,000 contacts seeded
in one INSERT). Every row exactly once, through the native API and RapidPro's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contacts.models import Contact
from tests.factories.contacts import ContactFactory

SAME = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COUNT = 1_300  # past DRF's default cutoff of 1,000 equals (1,250 with RapidPro's 250 a page)


@pytest.fixture
def same_instant(make_rapidpro):
    api = make_rapidpro()
    ContactFactory.create_batch(COUNT, client=api.tenant)
    Contact.objects.filter(client=api.tenant).update(created_at=SAME, updated_at=SAME)
    return api


def walk(api, url: str, *, auth: str) -> list[str]:
    api.credentials(HTTP_AUTHORIZATION=auth)
    seen: list[str] = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        page = [row.get("uuid") or row.get("id") for row in body["results"]]
        assert page, f"an empty page after {len(seen)} rows"
        assert not set(page) & set(seen), f"a page repeated after {len(seen)} rows"
        seen.extend(page)
        url = body["next"]
    return seen


@pytest.mark.django_db
def test_the_native_contacts_list_pages_past_a_thousand_rows_sharing_created_at(same_instant):
    seen = walk(same_instant, "/api/v1/contacts/?limit=300", auth=f"Bearer {same_instant.raw_key}")
    assert len(seen) == len(set(seen)) == COUNT


@pytest.mark.django_db
def test_rapidpro_contacts_page_past_1250_rows_sharing_modified_on(same_instant):
    seen = walk(same_instant, "/api/v2/contacts.json", auth=f"Token {same_instant.raw_key}")
    assert len(seen) == len(set(seen)) == COUNT
