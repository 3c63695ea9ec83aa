"""createclient and createapikey: what they print, and clear errors that change nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, Client
from accounts.selectors import api_key_lookup
from wallets.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_createclient_prints_the_id_last_and_creates_the_wallet():
    out = run(
        "createclient",
        "Acme",
        "--currency",
        "eur",
        "--balance",
        "25.5",
        "--billing",
        "postpaid",
        "--credit-limit",
        "100",
        "--country",
        "fr",
        "--timezone",
        "Europe/Paris",
        "--send-rate-limit",
        "20/15m",
    )
    client = Client.objects.get(name="Acme")
    assert out.strip().splitlines()[-1] == str(client.id)
    assert (client.country, client.timezone, client.send_rate_limit) == ("FR", "Europe/Paris", "20/15m")
    wallet = Wallet.objects.get(client=client)
    assert (wallet.currency, wallet.billing) == ("EUR", "postpaid")
    assert (wallet.balance, wallet.credit_limit) == (Decimal("25.5"), Decimal("100"))
    entry = LedgerEntry.objects.get(wallet=wallet)
    assert (entry.kind, entry.amount, entry.balance_after) == ("topup", Decimal("25.5"), Decimal("25.5"))


def test_createclient_defaults():
    out = run("createclient", "Defaults")
    client = Client.objects.get(pk=out.strip())
    assert (client.country, client.timezone) == ("UG", "Africa/Kampala")
    assert (client.wallet.currency, client.wallet.balance, client.wallet.billing) == ("USD", 0, "prepaid")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "XXQ"], "ISO 4217"),
        (["--country", "ZZ"], "country code"),
        (["--timezone", "Mars/Olympus"], "IANA time zone"),
        (["--balance", "lots"], "not a number"),
        (["--balance", "-5"], "positive"),
        (["--credit-limit", "-1"], "positive"),
        (["--send-rate-limit", "fast"], "not a rate"),
    ],
)
def test_createclient_bad_input_is_a_clear_error_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("createclient", "Bad", *args)
    assert not Client.objects.exists()
    assert not Wallet.objects.exists()


def test_createapikey_prints_only_the_key_on_the_last_line():
    client_id = run("createclient", "Keyed").strip()
    out = run(
        "createapikey",
        client_id,
        "--scopes",
        "send_sms,read",
        "--ip",
        "203.0.113.0/24",
        "--ip",
        "198.51.100.1",
        "--name",
        "CRM",
    )
    raw = out.strip().splitlines()[-1]
    api_key = api_key_lookup(raw=raw)
    assert api_key is not None
    assert (api_key.name, api_key.scopes) == ("CRM", ["send_sms", "read"])
    assert api_key.allowed_ips == ["203.0.113.0/24", "198.51.100.1/32"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["00000000-0000-0000-0000-000000000000", "--scopes", "read"], "Unknown client"),
        (["not-a-uuid", "--scopes", "read"], "Unknown client"),
        (["{client}", "--scopes", "read,send_fax"], "Unknown scope.*send_fax"),
        (["{client}", "--scopes", "read", "--ip", "10.0.0.0/40"], "not a valid IP address or CIDR"),
        (["{client}", "--scopes", ""], "at least one scope"),
    ],
)
def test_createapikey_bad_input_is_a_clear_error(args, message):
    client_id = run("createclient", "Keyed").strip()
    with pytest.raises(CommandError, match=message):
        run("createapikey", *[a.replace("{client}", client_id) for a in args])
    assert not ApiKey.objects.exists()
