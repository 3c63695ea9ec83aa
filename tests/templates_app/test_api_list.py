"""GET /api/v1/templates/: newest first, cursor pages, filters, and a pinned number of queries."""

from __future__ import annotations

import pytest

from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def names(response):
    assert response.status_code == 200, response.content
    return [t["name"] for t in response.json()["results"]]


def test_list_is_newest_first_and_paginated(api):
    for index in range(3):
        TemplateFactory(client=api.tenant, name=f"t{index}")
    first = api.get(URL, {"limit": 2}).json()
    assert [t["name"] for t in first["results"]] == ["t2", "t1"]
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    assert [t["name"] for t in second["results"]] == ["t0"]
    assert second["next"] is None


@pytest.fixture
def catalogue(api):
    TemplateFactory(client=api.tenant, name="welcome", channel="sms", language="eng")
    TemplateFactory(client=api.tenant, name="welcome", channel="sms", language="fra")
    TemplateFactory(client=api.tenant, name="welcome", channel="whatsapp", language="eng")
    TemplateFactory(client=api.tenant, name="order_ready", channel="whatsapp", language="eng", status="pending")
    TemplateFactory(client=api.tenant, name="Welcome back", channel="telegram", language="eng", category="utility")
    TemplateFactory(name="welcome")  # another client's
    return api


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Welcome back", "order_ready", "welcome", "welcome", "welcome"]),
        ({"channel": "whatsapp"}, ["order_ready", "welcome"]),
        ({"status": "pending"}, ["order_ready"]),
        ({"status": "draft"}, ["welcome"]),
        ({"status": "approved", "channel": "sms"}, ["welcome", "welcome"]),
        ({"language": "fra"}, ["welcome"]),
        ({"language": "FRA"}, ["welcome"]),
        ({"name": "welcome"}, ["welcome", "welcome", "welcome"]),
        ({"search": "WELCOME"}, ["Welcome back", "welcome", "welcome", "welcome"]),
        ({"category": "utility"}, ["Welcome back"]),
        ({"name": "nothing"}, []),
    ],
)
def test_filters(catalogue, params, expected):
    assert names(catalogue.get(URL, params)) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "email"}, "channel"),
        ({"status": "live"}, "status"),
        ({"category": "promo"}, "category"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_filters_are_400(api, params, field):
    error = assert_error(api.get(URL, params), 400, "invalid_request_error")
    assert field in error["fields"]


def test_created_range(api):
    TemplateFactory(client=api.tenant, name="old")
    assert names(api.get(URL, {"created_after": "2000-01-01T00:00:00Z"})) == ["old"]
    assert names(api.get(URL, {"created_before": "2000-01-01T00:00:00Z"})) == []


@pytest.mark.parametrize("count", [1, 30])
def test_list_queries_do_not_grow_with_the_number_of_templates(api, count, django_assert_max_num_queries):
    for index in range(count):
        TemplateFactory(client=api.tenant, name=f"t{index}", channel="whatsapp" if index % 2 else "sms")
    api.get(URL)  # warm the key's last_used_at so both runs do the same work
    with django_assert_max_num_queries(3):  # API key, rate-limit window, the page
        response = api.get(URL, {"limit": 1000})
    assert len(response.json()["results"]) == count
