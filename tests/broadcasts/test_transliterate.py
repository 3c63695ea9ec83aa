"""`optimize_text` and `transliterate` through the API (issue 21, SPEC §6 and §8): smart encoding
never changes a letter; `transliterate` (default false) writes letters outside GSM with their
closest GSM letters, in the messages, the precheck, drafts and the broadcast's own record."""

from __future__ import annotations

import pytest

from broadcasts.models import Message
from tests.broadcasts.conftest import KE, UG

pytestmark = pytest.mark.django_db

TEXT = "Merci, ça marche \u2014 à bientôt\u2026"


def _texts(shop, response):
    assert response.status_code == 201, response.json()
    return set(Message.objects.filter(broadcast=shop.broadcast(response)).values_list("text", "encoding", "segments"))


def test_smart_encoding_leaves_a_letter_outside_gsm_and_so_the_text_as_written(shop, daytime):
    response = shop.create(recipients=[UG], text=TEXT)
    assert _texts(shop, response) == {(TEXT, "ucs2", 1)}
    assert response.json()["optimize_text"] is True
    assert response.json()["transliterate"] is False


def test_transliterate_sends_the_closest_gsm_letters(shop, daytime):
    response = shop.create(recipients=[UG, KE], text=TEXT, transliterate=True)
    assert _texts(shop, response) == {("Merci, ca marche - à bientot...", "gsm7", 1)}
    assert shop.broadcast(response).transliterate is True
    assert shop.api.get(f"/api/v1/broadcasts/{response.json()['id']}/").json()["transliterate"] is True


def test_transliterate_goes_further_than_smart_encoding_even_when_that_is_off(shop, daytime):
    response = shop.create(recipients=[UG], text=TEXT, transliterate=True, optimize_text=False)
    assert _texts(shop, response) == {("Merci, ca marche - à bientot...", "gsm7", 1)}


def test_the_precheck_counts_the_transliterated_text(shop, daytime):
    text = "ç" + "a" * 100  # 101 UCS-2 units: 2 parts; transliterated, 101 septets: 1 part
    written = shop.precheck(recipients=[UG], text=text).json()
    transliterated = shop.precheck(recipients=[UG], text=text, transliterate=True).json()
    assert (written["encoding"], written["total_segments"], written["non_gsm_characters"]) == ("ucs2", 2, ["ç"])
    assert (transliterated["encoding"], transliterated["total_segments"]) == ("gsm7", 1)


def test_transliterate_must_be_a_boolean(shop):
    response = shop.create(recipients=[UG], transliterate="yes")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["transliterate"]


def test_a_draft_keeps_transliterate_and_a_patch_changes_it(shop, daytime):
    draft = shop.broadcast(shop.create(recipients=[UG], text=TEXT, status="draft", transliterate=True))
    assert draft.transliterate is True
    response = shop.api.patch(f"/api/v1/broadcasts/{draft.pk}/", {"transliterate": False}, format="json")
    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert draft.transliterate is False
