"""SPEC §14 from outside: Octopush users' own clients against the live stack (gunicorn, workers,
production settings). The legacy surface is judged by the real `octopush` 1.0.0 package, whose
`requests.Session` keeps its connection alive from one call to the next (as a long-running script's
does); API v1 by raw HTTP as seed 001 documents it (Octopush's PHP SDK sends exactly these headers)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import octopush
import pytest
from octopush import OWS, SMS

from tests.live.conftest import LiveStack, Tenant, wait_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def tenant(live: LiveStack, unique: str) -> Tenant:
    return live.new_tenant(f"Octopush {unique}")


def test_the_octopush_package_sends_dedupes_and_reads_its_balance_over_one_kept_alive_session(
    live: LiveStack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(octopush, "DOMAIN", f"{live.base_url}/octopush-legacy")
    sms = SMS(tenant.client_id, tenant.key)
    sms.set_sms_text("Bonjour {prenom}, votre code {ch1}")
    sms.set_sms_recipients(["+256772200001", "+256772200002"])
    sms.set_recipients_first_names(["Axelle", "John"])
    sms.set_sms_fields_1(["A1", "B2"])
    sms.set_sms_type(octopush.SMS_PREMIUM)
    sms.set_sms_sender("Herald")
    sms.set_sms_request_id("live1")
    sms.set_option_transactional(1)
    doc = sms.send()
    assert isinstance(doc, ET.Element)
    assert (doc.findtext("error_code"), doc.findtext("number_of_sendings")) == ("000", "2")
    ticket = doc.findtext("ticket") or ""
    broadcast_id = ticket.removeprefix("sms_")
    # The same request_id again, on the same kept-alive session: Octopush's own refusal, nothing sent.
    with pytest.raises(Exception, match="request_id") as refused:
        sms.send()
    assert str(refused.value) == octopush.ERRORS["120"]
    balance = OWS(tenant.client_id, tenant.key).get_balance()
    assert balance.findtext("error_code") == "000"
    assert {b.attrib["type"] for b in balance.findall("balance")} == {"FR", "XXX"}

    def sent() -> dict[str, object] | None:
        body = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
        return body if body["status"] == "sent" else None

    native = wait_for(sent, 90, "the package's broadcast to be sent")
    assert native["total_recipients"] == 2
    texts = live.sql("SELECT text FROM broadcasts_message WHERE broadcast_id = %s ORDER BY urn", [native["id"]])
    assert [t for (t,) in texts] == ["Bonjour Axelle, votre code A1", "Bonjour John, votre code B2"]


def test_octopush_api_v1_by_raw_http_sends_once_per_request_id(live: LiveStack, tenant: Tenant):
    headers = {"api-key": tenant.key, "api-login": tenant.client_id}
    body = {
        "recipients": [{"phone_number": "+256772200011", "first_name": "Ann"}],
        "text": "Hello {first_name}",
        "type": "sms_premium",
        "purpose": "alert",
        "sender": "Herald",
        "request_id": "live-v1",
    }
    sent = live.post("/octopush/v1/public/sms-campaign/send", body, key=False, headers=headers)
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert answer["sms_ticket"].startswith("sms_")
    assert (answer["number_of_contacts"], answer["number_of_sms_needed"], answer["message"]) == (1, 1, "")
    assert isinstance(answer["total_cost"], float | int)
    again = live.post("/octopush/v1/public/sms-campaign/send", body, key=False, headers=headers)
    assert (again.status_code, again.json()) == (
        400,
        {"code": 120, "message": "A SMS with the same request_id has already been sent."},
    )
    balance = live.get("/octopush/v1/public/wallet/check-balance", key=False, headers=headers)
    assert balance.status_code == 200, balance.text
    assert balance.json()["unit"] == "USD"
    wrong = live.get("/octopush/v1/public/wallet/check-balance", key=False, headers={"api-key": "hk_nope"})
    assert wrong.status_code == 401
