"""`GET /r/{code}` (SPEC §12): a 302 to the stored URL with its click recorded; HEAD counts
nothing; an unknown code answers a plain 404 page; nothing but a stored http(s) URL is a target."""

from __future__ import annotations

import pytest
from django.db import connection

from tracking.bots import is_bot
from tracking.clicks import ip_hash
from tracking.models import Click, TrackedLink

from .conftest import URL

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
def code(tenant, write_links):
    return write_links(tenant, [(None, URL, "Abc1234")]).codes[0]


def test_a_click_redirects_to_the_stored_url_and_is_recorded(client, code, settings):
    response = client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME, REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 302
    assert response["Location"] == URL
    assert response["Cache-Control"] == "private, no-store"
    [click] = Click.objects.all()
    assert (click.code_id, click.link.url, click.user_agent, click.is_bot, click.processed) == (
        code, URL, CHROME, False, False,
    )  # fmt: skip
    assert click.ip_hash == ip_hash("203.0.113.7", secret=settings.SECRET_KEY)
    assert len(click.ip_hash) == 64
    assert not response.cookies  # no session, no CSRF token


def test_a_click_is_one_sql_statement(client, code, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME).status_code == 302


def test_a_long_user_agent_is_cut_to_512_characters(client, code):
    client.get(f"/r/{code}", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 1000)
    assert len(Click.objects.get().user_agent) == 512


def test_a_trailing_slash_is_the_same_link(client, code):
    assert client.get(f"/r/{code}/")["Location"] == URL


def test_head_redirects_without_counting(client, code, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.head(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    assert (response.status_code, response["Location"]) == (302, URL)
    assert not Click.objects.exists()


@pytest.mark.parametrize("path", ["/r/Zzz9999", "/r/abc", "/r/Abc12345", "/r/Abc-234", "/r/", "/r/Abc1234/x"])
def test_an_unknown_or_malformed_code_answers_a_plain_404_page(client, code, path):
    response = client.get(path, HTTP_USER_AGENT=CHROME)

    assert response.status_code == 404
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"Link not found" in response.content
    assert b"dashboard" not in response.content.lower()
    assert not Click.objects.exists()


def test_a_malformed_code_costs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/r/no-such-code").status_code == 404


def test_other_methods_are_refused(client, code):
    response = client.post(f"/r/{code}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert not Click.objects.exists()


def test_a_code_leads_only_to_its_stored_url(client, code):
    """No open redirect: query strings, encoded URLs and Host headers change nothing."""
    for path in (f"/r/{code}?url=https://evil.example", f"/r/{code}?next=//evil.example"):
        assert client.get(path, HTTP_HOST="localhost")["Location"] == URL
    assert client.get("/r/https%3A%2F%2Fevil.example").status_code == 404
    assert client.get("/r///evil.example").status_code == 404


def test_a_stored_url_that_is_not_http_is_never_a_target(client, code):
    # Whatever reached the table (a bug in a writer, a hand edit), only http(s) leaves through /r/.
    TrackedLink.objects.update(url="javascript:alert(1)")
    assert client.get(f"/r/{code}").status_code == 404
    assert client.head(f"/r/{code}").status_code == 404
    assert not Click.objects.exists()


def test_the_redirect_needs_no_login_and_no_session(client, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 302
    assert not response.cookies


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "hashed"),
    [
        ([], "10.0.0.5", "198.51.100.1", "10.0.0.5"),  # no trusted proxy: the header is ignored
        (["10.0.0.0/8"], "10.0.0.5", "198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.5", "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (["10.0.0.0/8"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not from a proxy
    ],
)
def test_the_ip_hash_believes_x_forwarded_for_only_from_trusted_proxies(
    client, code, settings, trusted, remote, forwarded, hashed
):
    settings.TRUSTED_PROXIES = trusted
    client.get(f"/r/{code}", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert Click.objects.get().ip_hash == ip_hash(hashed, secret=settings.SECRET_KEY)


def test_the_ip_hash_is_keyed_by_the_secret_key():
    assert ip_hash("198.51.100.1", secret="a" * 50) == ip_hash("198.51.100.1", secret="a" * 50)
    assert ip_hash("198.51.100.1", secret="a" * 50) != ip_hash("198.51.100.1", secret="b" * 50)
    assert ip_hash("", secret="a" * 50) == ""


@pytest.mark.parametrize(
    "agent",
    [
        "WhatsApp/2.23.20.0 A",
        "WhatsApp/2.2337.7 i",
        "TelegramBot (like TwitterBot)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Slack-ImgProxy (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; Facebot/1.0; +https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "Twitterbot/1.0",
        # iMessage's link preview
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
        "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 "
        "Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/41.0.2272.96 Mobile Safari/537.36 (compatible; Google-PageRenderer Google "
        "(+https://developers.google.com/+/web/snippet/))",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "",
    ],
)
def test_bots_and_link_previews_are_flagged(client, code, agent):
    assert is_bot(agent)
    client.get(f"/r/{code}", HTTP_USER_AGENT=agent)
    assert Click.objects.get().is_bot


@pytest.mark.parametrize(
    "agent",
    [
        CHROME,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        # In-app browsers are people reading the page.
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.35.109;FBBV/595623327;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;"
        "FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
        "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 Instagram 329.0.0.41.93 Android",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Mobile Safari/537.36 Telegram-Android/10.12.0 (Samsung SM-S918B; Android 14; SDK 34; AVERAGE)",
    ],
)
def test_people_are_not_flagged(client, code, agent):
    assert not is_bot(agent)
    client.get(f"/r/{code}", HTTP_USER_AGENT=agent)
    assert not Click.objects.get().is_bot


def test_a_click_does_not_wait_for_the_wal_flush_and_the_setting_ends_with_it(client, code):
    client.get(f"/r/{code}", HTTP_USER_AGENT=CHROME)
    # The test runs inside one transaction, so the statement's local setting is still visible here;
    # in autocommit it ends with the statement's own transaction.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_async_commit_ends_with_the_click(tenant, write_links):
    from tracking.clicks import click_record

    [code] = write_links(tenant, [(None, URL, "Xyz9876")]).codes
    assert click_record(code=code, user_agent=CHROME, ip_hash="", is_bot=False) == URL
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert Click.objects.filter(code_id=code).count() == 1
