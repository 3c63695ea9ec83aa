"""The short link's own path through the stack (tracking/middleware.py, tracking/clicks.py): answered
before the session, CSRF and auth middleware but after SecurityMiddleware, and outside a transaction
its statement runs prepared on the open connection, with no health check's `SELECT 1` before it and
a dropped connection replaced. These tests commit (transaction=True): the fast path is only taken
outside a transaction, which the rest of the suite's tests never are."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from tracking.clicks import _RECORD, _one_row
from tracking.models import Click

from .conftest import URL

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def code(tenant, write_links):
    return write_links(tenant, [(None, URL, "Fast123")]).codes[0]


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_click_runs_prepared_on_the_open_connection(client, code):
    connection.ensure_connection()
    for _ in range(2):
        response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
        assert (response.status_code, response["Location"]) == (302, URL)
    assert Click.objects.count() == 2
    # Prepared once ($1… where the source says %s), and the only statement this connection prepared.
    [statement] = _prepared()
    assert statement.strip() == _RECORD.strip().replace("%s", "{}").format(*(f"${n}" for n in range(1, 6)))


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_and_the_click_recorded_once(client, code):
    assert client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME).status_code == 302
    backend = connection.connection.info.backend_pid
    other = connection.copy()  # a second connection to the same database terminates the first
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        assert cursor.fetchone() == (True,)
    other.close()

    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)

    assert (response.status_code, response["Location"]) == (302, URL)
    assert connection.connection.info.backend_pid != backend
    assert Click.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_error_of_the_statement_itself_is_raised_not_retried():
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    with pytest.raises(psycopg.errors.DivisionByZero):
        _one_row("SELECT 1 / %s", [0])
    assert connection.connection.info.backend_pid == backend  # the connection was fine: kept
    assert _one_row("SELECT %s::int + 1", [1]) == (2,)


@pytest.mark.django_db
def test_the_answer_keeps_the_security_headers_and_a_request_id(client, code):
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    assert response.status_code == 302
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]
    assert response["Content-Length"] == "0"


@pytest.mark.django_db
def test_https_is_still_enforced_before_the_click_counts(client, code, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    assert (response.status_code, response["Location"]) == (301, f"https://testserver/r/{code}")
    assert Click.objects.count() == 0


@pytest.mark.django_db
def test_an_unknown_host_is_refused(client, code):
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert Click.objects.count() == 0


@pytest.mark.django_db
def test_no_session_or_csrf_work_even_with_their_cookies(client, code):
    client.cookies["sessionid"] = "x" * 32
    client.cookies["csrftoken"] = "y" * 32
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    assert response.status_code == 302
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")


@pytest.mark.django_db
def test_other_paths_go_through_the_whole_stack(client):
    response = client.get("/login/")
    assert hasattr(response.wsgi_request, "session")
