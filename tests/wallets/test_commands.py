"""topup, importroutes and setfxrate (SPEC §3): what they print last, and clear errors that change nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories.accounts import ClientFactory
from tests.factories.wallets import RouteFactory, make_wallet
from wallets.models import ExchangeRate, LedgerEntry, Route

pytestmark = pytest.mark.django_db
D = Decimal
HEADER = "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


# --- topup ---------------------------------------------------------------------------------------


def test_topup_prints_the_new_balance_last_and_writes_the_entry():
    wallet = make_wallet(balance="10")
    out = run("topup", str(wallet.client_id), "25.50", "--note", "INV-42")
    assert last_line(out) == "35.500000"
    entry = LedgerEntry.objects.filter(wallet=wallet).first()
    assert (entry.kind, entry.amount, entry.balance_after, entry.note) == ("topup", D("25.5"), D("35.5"), "INV-42")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["00000000-0000-0000-0000-000000000000", "10"], "Unknown client"),
        (["not-a-uuid", "10"], "Unknown client"),
        (["{client}", "0"], "more than 0"),
        (["{client}", "-5"], "more than 0"),
        (["{client}", "ten"], "not a number"),
        (["{client}", "1.0000001"], "6 decimal places"),
    ],
)
def test_topup_bad_input_is_a_clear_error_and_changes_nothing(args, message):
    wallet = make_wallet(balance="10")
    with pytest.raises(CommandError, match=message):
        run("topup", *[a.replace("{client}", str(wallet.client_id)) for a in args])
    wallet.refresh_from_db()
    assert wallet.balance == D("10")
    assert LedgerEntry.objects.count() == 1


def test_topup_a_client_without_a_wallet():
    client = ClientFactory()
    with pytest.raises(CommandError, match="has no wallet"):
        run("topup", str(client.pk), "10")


# --- importroutes --------------------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path: Path):
    def write(*rows: str, header: str = HEADER) -> str:
        path = tmp_path / "routes.csv"
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return str(path)

    return write


def test_importroutes_upserts_and_prints_the_number_of_routes(csv_file):
    existing = RouteFactory(route_code="ESMS_UG", price_per_segment=D("40"), connector="old")
    path = csv_file(
        "sms,UG,,ESMS_UG,simulator,UGX,35.00,premium",
        "sms,ug,+25677,MTN_UG,simulator,ugx,32,low_cost",
        "whatsapp,FR,,WA_FR,simulator,USD,0.0768,",
        "telegram,ZZ,,TG,simulator,USD,0.001,premium",
    )
    assert last_line(run("importroutes", path)) == "4"
    existing.refresh_from_db()
    assert (existing.price_per_segment, existing.connector) == (D("35"), "simulator")
    mtn = Route.objects.get(route_code="MTN_UG")
    assert (mtn.country_code, mtn.prefix, mtn.currency, mtn.tier) == ("UG", "25677", "UGX", "low_cost")
    assert Route.objects.get(route_code="WA_FR").tier == "premium"
    assert Route.objects.count() == 4
    assert last_line(run("importroutes", path)) == "4"  # idempotent
    assert Route.objects.count() == 4


def test_importroutes_reads_a_bom_and_any_column_order(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "\ufefftier,price_per_segment,currency,connector,route_code,prefix,country_code,channel\n"
        "premium,1.2,KES,simulator,SAF_KE,,KE,sms\n",
        encoding="utf-8",
    )
    assert last_line(run("importroutes", str(path))) == "1"
    assert Route.objects.get().route_code == "SAF_KE"


GOOD = "sms,UG,,ESMS_UG,simulator,UGX,35.00,premium"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("fax,UG,,R1,simulator,UGX,35,premium", "line 3: channel: 'fax' is not a channel"),
        ("sms,XX,,R1,simulator,UGX,35,premium", "line 3: country_code: 'XX' is not a country code"),
        ("sms,UG,2567a,R1,simulator,UGX,35,premium", "line 3: prefix: '2567a' is not a number prefix"),
        ("sms,UG,25477,R1,simulator,UGX,35,premium", "line 3: prefix: '25477' does not start with UG's calling code"),
        ("sms,UG,,,simulator,UGX,35,premium", "line 3: route_code: '' is not a route code"),
        ("sms,UG,,R 1,simulator,UGX,35,premium", "line 3: route_code"),
        ("sms,UG,,R1,,UGX,35,premium", "line 3: connector"),
        ("sms,UG,,R1,simulator,UGQ,35,premium", "line 3: currency: 'UGQ' is not an ISO 4217"),
        ("sms,UG,,R1,simulator,UGX,abc,premium", "line 3: price_per_segment: 'abc' is not a number"),
        ("sms,UG,,R1,simulator,UGX,-1,premium", "line 3: price_per_segment: '-1' must be a positive amount"),
        ("sms,UG,,R1,simulator,UGX,0.0000001,premium", "line 3: price_per_segment: .*6 decimal places"),
        ("sms,UG,,R1,simulator,UGX,35,gold", "line 3: tier: 'gold' is not a tier"),
        ("sms,UG,,R1,simulator,UGX,35", "line 3: fewer values than columns"),
        ("sms,UG,,R1,simulator,UGX,35,premium,extra", "line 3: more values than columns"),
        (GOOD, r"line 3: the same route \(channel, tier, country_code, prefix, route_code\) as line 2"),
        ("sms,ZZ,256,R1,simulator,USD,1,premium", "line 3: prefix: A ZZ"),
    ],
)
def test_importroutes_a_bad_row_names_its_line_and_imports_nothing(csv_file, row, message):
    path = csv_file(GOOD, row, "sms,KE,,SAF_KE,simulator,KES,1.20,premium")
    with pytest.raises(CommandError, match=message) as exc:
        run("importroutes", path)
    assert str(exc.value).startswith("Nothing was imported.")
    assert not Route.objects.exists()


def test_importroutes_reports_every_bad_line(csv_file):
    path = csv_file("sms,UG,,R1,simulator,UGX,x,premium", GOOD, "sms,UG,,R2,simulator,UGX,35,gold")
    with pytest.raises(CommandError, match=r"line 2: .*line 4: ") as exc:
        run("importroutes", path)
    assert "line 3" not in str(exc.value)
    assert not Route.objects.exists()


def test_importroutes_never_half_updates_existing_routes(csv_file):
    existing = RouteFactory(route_code="ESMS_UG", price_per_segment=D("40"))
    with pytest.raises(CommandError):
        run("importroutes", csv_file(GOOD, "sms,UG,,R1,simulator,UGX,x,premium"))
    existing.refresh_from_db()
    assert existing.price_per_segment == D("40")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("channel,country_code,route_code,connector,currency,price_per_segment,tier", "missing column.*prefix"),
        (HEADER + ",colour", "unknown column.*colour"),
        (HEADER + ",tier", "repeated column.*tier"),
    ],
)
def test_importroutes_bad_header(csv_file, header, message):
    with pytest.raises(CommandError, match=f"line 1: {message}"):
        run("importroutes", csv_file(GOOD, header=header))
    assert not Route.objects.exists()


def test_importroutes_empty_missing_and_binary_files(tmp_path, csv_file):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="empty"):
        run("importroutes", str(empty))
    with pytest.raises(CommandError, match="no routes"):
        run("importroutes", csv_file())
    with pytest.raises(CommandError, match="Cannot read"):
        run("importroutes", str(tmp_path / "nope.csv"))
    binary = tmp_path / "routes.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00")
    with pytest.raises(CommandError, match="not UTF-8"):
        run("importroutes", str(binary))


# --- setfxrate -----------------------------------------------------------------------------------


def test_setfxrate_prints_the_rate_and_replaces_it():
    assert last_line(run("setfxrate", "ugx", "USD", "0.000268571")) == "0.000268571"
    assert last_line(run("setfxrate", "UGX", "USD", "0.00027")) == "0.00027"
    assert last_line(run("setfxrate", "EUR", "USD", "1.0800")) == "1.08"
    rate = ExchangeRate.objects.get(from_currency="UGX")
    assert (rate.to_currency, rate.rate) == ("USD", D("0.00027"))
    assert ExchangeRate.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["UGQ", "USD", "1"], "from_currency: 'UGQ' is not an ISO 4217"),
        (["UGX", "US", "1"], "to_currency: 'US' is not an ISO 4217"),
        (["USD", "usd", "1"], "must differ"),
        (["UGX", "USD", "0"], "more than 0"),
        (["UGX", "USD", "-0.5"], "more than 0"),
        (["UGX", "USD", "abc"], "not a number"),
        (["UGX", "USD", "0.0000000000001"], "12 decimal places"),
        (["UGX", "USD", "1e15"], "too large"),
    ],
)
def test_setfxrate_bad_input_is_a_clear_error_and_changes_nothing(args, message):
    run("setfxrate", "UGX", "USD", "0.0003")
    with pytest.raises(CommandError, match=message):
        run("setfxrate", *args)
    assert list(ExchangeRate.objects.values_list("from_currency", "to_currency", "rate")) == [
        ("UGX", "USD", D("0.0003"))
    ]
