"""Query parameters of every list: an unknown one answers 400 naming it (it used to be ignored, so a
misspelt filter answered the whole list); known ones keep working; impossible dates are 400, not 500."""

from __future__ import annotations

import pytest

from tests.factories.wallets import make_wallet
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

# Each list with a filter it knows (the dashboard is not paginated).
LISTS = {
    "/api/v1/broadcasts/": "status=draft",
    "/api/v1/messages/": "status=sent",
    "/api/v1/contacts/": "opted_out=false",
    "/api/v1/contact-lists/": "name=vip",
    "/api/v1/contact-imports/": "status=completed",
    "/api/v1/templates/": "channel=sms",
    "/api/v1/wallet/transactions/": "kind=topup",
    "/api/v1/prices/": "country_code=UG",
    "/api/v1/api-keys/": "created_before=2030-01-01T00:00:00Z",
    "/api/v1/broadcasts/dashboard/": "created_after=2020-01-01T00:00:00Z",
}
CREATED_RANGE = [url for url in LISTS if url != "/api/v1/prices/"]
PAGINATED = [url for url in LISTS if url != "/api/v1/broadcasts/dashboard/"]


@pytest.fixture
def client_for(make_api, make_session_api):
    def _for(url):
        # API keys are managed from the dashboard only: a logged-in owner.
        api = make_session_api(role="owner") if url == "/api/v1/api-keys/" else make_api()
        make_wallet(client=api.tenant)
        return api

    return _for


@pytest.mark.parametrize("url", list(LISTS))
def test_an_unknown_query_parameter_is_400_naming_it(client_for, url):
    query = LISTS[url] + "&foo=1" + ("&limit=5" if url in PAGINATED else "")
    response = client_for(url).get(f"{url}?{query}")
    error = assert_error(response, 400, "invalid_request_error", "unknown_parameter")
    assert list(error["fields"]) == ["foo"]
    assert error["message"].startswith("foo: Unknown query parameter; this endpoint takes: ")


def test_the_error_says_what_the_list_takes(client_for):
    url = "/api/v1/broadcasts/"
    error = assert_error(client_for(url).get(f"{url}?state=sent&foo=1"), 400, "invalid_request_error")
    takes = (
        "Unknown query parameter; this endpoint takes: "
        "channel, created_after, created_before, cursor, limit, name, parent, status."
    )
    assert error["fields"] == {"state": [takes], "foo": [takes]}


@pytest.mark.parametrize("url", list(LISTS))
def test_known_filters_pagination_and_format_are_accepted(client_for, url):
    query = LISTS[url] + ("&limit=5" if url in PAGINATED else "") + "&format=json"
    response = client_for(url).get(f"{url}?{query}")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", PAGINATED)
def test_the_cursor_is_a_known_parameter(client_for, url):
    error = assert_error(client_for(url).get(f"{url}?cursor=bogus"), 400, "invalid_request_error", "invalid")
    assert list(error["fields"]) == ["cursor"]


@pytest.mark.parametrize("value", ["2027-02-30T10:00:00Z", "2027-01-01T25:00:00Z", "2027-13-01T00:00:00Z"])
@pytest.mark.parametrize("name", ["created_after", "created_before"])
@pytest.mark.parametrize("url", CREATED_RANGE)
def test_an_impossible_date_is_400_naming_the_parameter(client_for, url, name, value):
    response = client_for(url).get(url, {name: value})
    error = assert_error(response, 400, "invalid_request_error")
    assert list(error["fields"]) == [name]
