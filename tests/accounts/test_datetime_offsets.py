"""Any ISO 8601 offset is a valid date-time filter (found by the schema fuzzer: +18:11 answered 500).

PostgreSQL keeps offsets only up to ±15:59; Herald moves every integrator's date-time to UTC before
it reaches a query, and one that lands past year 9999 in UTC is a 400 naming the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.dates import parse_iso_datetime
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/broadcasts/",
    "/api/v1/messages/",
    "/api/v1/contacts/",
    "/api/v1/contact-lists/",
    "/api/v1/contact-imports/",
    "/api/v1/templates/",
    "/api/v1/wallet/transactions/",
    "/api/v1/broadcasts/dashboard/",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", ["0717-09-26T04:22:55.827+21:12", "2026-01-01T00:00:00-18:56"])
def test_an_offset_postgresql_cannot_store_still_filters(api, path, value):
    response = api.get(path, {"created_after": value, "created_before": "2999-01-01T00:00:00+23:59"})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", LISTS)
def test_a_moment_past_year_9999_in_utc_is_400(api, path):
    response = api.get(path, {"created_before": "9999-12-31T23:59:59-23:00"})
    error = assert_error(response, 400, "invalid_request_error")
    assert list(error["fields"]) == ["created_before"]


def test_parse_iso_datetime_answers_utc():
    assert parse_iso_datetime("2026-01-01T20:30:00+20:30") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_iso_datetime("2026-01-01T00:00:00+20:30").tzinfo is UTC
    assert parse_iso_datetime("9999-12-31T23:59:59-23:00") is None
