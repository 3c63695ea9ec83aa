"""The short link's own path through the stack (tracking/middleware.py, tracking/clicks.py): answered
before the session, CSRF and auth middleware but after SecurityMiddleware, and outside a transaction
its statement runs prepared on the open connection, with no health check's `SELECT 1` before it and
a dropped connection replaced, also when it dropped after the server committed the click (one
click, not two); with PostgreSQL unreachable it answers 503, not 500 (SPEC §12, issue 19 item 11).
These tests commit (transaction=True): the fast path is only taken outside a transaction, which
the rest of the suite's tests never are."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

from tracking import views
from tracking.clicks import _RECORD, _one_row, request_key
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
    placeholders = [f"${n}" for n in range(1, _RECORD.count("%s") + 1)]
    assert statement.strip() == _RECORD.strip().replace("%s", "{}").format(*placeholders)


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


def _terminate(pid: int) -> None:
    """End PostgreSQL backend `pid` from a second connection, and wait until it is gone."""
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(200):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone() == (0,):
                    return
                time.sleep(0.01)
        raise AssertionError(f"backend {pid} is still there")
    finally:
        other.close()


class AnswerLostOnce(psycopg.Cursor):  # type: ignore[type-arg]
    """The fast path's cursor, whose first statement commits on the server and then loses its
    connection before the answer is read: what a server restart or a dropped TCP connection does
    between the commit and the client's read. The caller sees a broken connection and no answer."""

    lost = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        done = super().execute(*args, **kwargs)  # autocommit: the click is committed now
        if AnswerLostOnce.lost == 0:
            AnswerLostOnce.lost += 1
            _terminate(self.connection.info.backend_pid)
            self.connection.execute("SELECT 1")  # raises OperationalError; the connection is now broken
        return done


@pytest.mark.django_db(transaction=True)
def test_a_click_committed_before_its_answer_was_lost_is_recorded_once(client, code, monkeypatch):
    assert client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME).status_code == 302  # an open connection
    AnswerLostOnce.lost = 0
    monkeypatch.setattr(psycopg, "Cursor", AnswerLostOnce)

    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)

    assert AnswerLostOnce.lost == 1
    assert (response.status_code, response["Location"]) == (302, URL)
    assert Click.objects.count() == 2  # the first request's and this one's: the re-run added nothing


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port bound but not listening: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def database_down(closed_port: int) -> Iterator[None]:
    """This thread's database connection pointed at a closed port until the test ends."""
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", closed_port
    try:
        yield
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["get", "head"])
def test_with_the_database_unreachable_a_click_answers_503_not_500(
    client, code, database_down, method, caplog, monkeypatch
):
    monkeypatch.setattr(views, "LOG_EVERY_S", 0)  # every refusal logged, for this test
    with caplog.at_level(logging.INFO):
        response = getattr(client, method)(f"/r/{code}", HTTP_USER_AGENT=CHROME, HTTP_ACCEPT="text/html,*/*")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert "Location" not in response
    if method == "get":
        assert b"try again" in response.content
        assert b"Traceback" not in response.content
        assert response["Content-Length"] == str(len(response.content))
    [record] = [r for r in caplog.records if "redirect.database_unavailable" in r.getMessage()]
    assert "OperationalError" in record.getMessage()
    assert not [r for r in caplog.records if code in r.getMessage() or "shop.example.com" in r.getMessage()]


@pytest.mark.django_db(transaction=True)
def test_an_outage_logs_one_line_per_interval_not_one_per_click(client, code, database_down, caplog, monkeypatch):
    monkeypatch.setattr(views, "_unavailable_log", views._Throttled())
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME).status_code == 503
    [record] = [r for r in caplog.records if "redirect.database_unavailable" in r.getMessage()]
    assert "'refused': 1" in record.getMessage()  # the first; the next two wait for the next line


@pytest.mark.django_db(transaction=True)
def test_an_api_client_gets_the_error_envelope(client, code, database_down):
    response = client.get(f"/r/{code}", HTTP_ACCEPT="application/json")
    assert (response.status_code, response["Retry-After"]) == (503, "30")
    assert json.loads(response.content) == {
        "error": {
            "type": "api_error",
            "code": "database_unavailable",
            "message": "Links cannot be followed right now; try again in a minute.",
            "fields": {},
        }
    }


@pytest.mark.django_db(transaction=True)
def test_clicks_resume_once_the_database_is_back(client, code, closed_port):
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", closed_port
    try:
        assert client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME).status_code == 503
    finally:
        settings_dict["HOST"], settings_dict["PORT"] = saved
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    assert (response.status_code, response["Location"]) == (302, URL)
    assert Click.objects.count() == 1


def test_request_keys_are_uuid7_unique_and_increasing():
    keys = [request_key() for _ in range(1000)]
    time.sleep(0.002)
    later = request_key()
    assert {(k.version, k.variant) for k in keys} == {(7, uuid.RFC_4122)}
    assert len(set(keys)) == 1000
    assert all(later > k for k in keys)  # a later millisecond sorts after: the index grows at one end


def test_connecting_gives_up_after_a_few_seconds():
    """A database host that does not answer at all (no refusal) costs a click 5 s, not the OS's
    minutes of TCP retries, before its 503."""
    assert connection.get_connection_params()["connect_timeout"] == 5


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
