"""Paths that run outside a transaction in production, tested outside one.

pytest-django wraps every test in a transaction, so a server-side cursor, `select_for_update` or an
`on_commit` callback behaves there as it never does under gunicorn (autocommit). These tests run
with `transaction=True`: each request is in autocommit, as it is in production.
"""

from __future__ import annotations

import pytest
from django.db import connection

from broadcasts.models import Broadcast
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listed(shop):
    members = [ContactFactory(client=shop.client, phone=f"+25677200{i:04d}") for i in range(3)]
    customers = ContactListFactory(client=shop.client)
    add_members(customers, *members)
    return shop, str(customers.pk)


def test_precheck_of_a_contact_list_runs_in_autocommit(listed, daytime):
    shop, list_id = listed
    assert connection.get_autocommit()
    response = shop.precheck(contact_lists=[list_id])
    assert response.status_code == 200, response.content
    assert response.json()["total_contacts"] == 3


@pytest.mark.parametrize(("extra", "status"), [({"simulate": True}, 200), ({"status": "draft"}, 201)])
def test_simulate_and_draft_of_a_contact_list_run_in_autocommit(listed, daytime, extra, status):
    shop, list_id = listed
    response = shop.create(contact_lists=[list_id], sender="Herald", **extra)
    assert response.status_code == status, response.content
    assert response.json()["total_recipients"] == 3
    assert Broadcast.objects.filter(client=shop.client).count() == (1 if extra.get("status") == "draft" else 0)
