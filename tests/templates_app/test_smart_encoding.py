"""Smart encoding (`optimize_text`, SPEC §6): Twilio's Smart Encoding table, all or nothing, never
inside a URL, never a letter; `transliterate` on request. The table itself is checked against
Twilio's calculator in test_twilio_oracle.py."""

from __future__ import annotations

import pytest

from templates_app.encoding import GSM7, SMART_REPLACEMENTS, UCS2, analyze, find_urls, is_gsm, optimize_text

EMOJI = "\U0001f600"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It\u2019s \u201cgreat\u201d", 'It\'s "great"'),
        ("\u2018single\u2019 \u201alow\u201b", "'single' ,low'"),  # ‚ is a comma in Twilio's table
        ("\u00abBonjour\u00bb \u2039oui\u203a", '"Bonjour" <oui>'),
        ("9\u20135 \u2014 daily \u2010 2 \u2015 3", "9-5 - daily - 2 - 3"),
        ("Wait\u2026", "Wait..."),
        ("\u2022 milk \u2022 bread", "- milk - bread"),
        ("\u00bd price, \u00bc off, \u00be done", "1/2 price, 1/4 off, 3/4 done"),
        ("a\u00a0b\u2009c\u3000d\u2001e", "a  b  c  d e"),  # wide spaces are two spaces, as Twilio has them
        ("a\tb", "a       b"),  # a tab is seven spaces
        ("zero\u200bwidth\u200c\u2060\ufeffgone", "zerowidthgone"),
        ("\uff28\uff25\uff2c\uff2c\uff2f\uff01 \uff11\uff12\uff13", "HELLO! 123"),  # full-width capitals
        ("\u029c\u1d07\u029f\u029f\u1d0f", "HELLO"),  # small capitals
        ("`quoted`", "'quoted'"),
        ("line\u2028next", "line next"),
        ("\u3010a\u3011 \u3002\uff0c", None),  # 【】 are not in the table: UCS-2, as written
    ],
)
def test_replacements(text, expected):
    assert optimize_text(text) == (text if expected is None else expected)
    if expected is not None:
        assert is_gsm(expected)


def test_the_table_is_twilios_271_characters_all_becoming_gsm():
    assert len(SMART_REPLACEMENTS) == 271
    assert all(is_gsm(value) for value in SMART_REPLACEMENTS.values())
    assert not any(is_gsm(key) for key in SMART_REPLACEMENTS)
    # Not in Twilio's table: the zero-width joiner (emoji sequences), letters, other typography.
    for character in ("\u200d", "ç", "ł", "\u2032", "\u2212", "\u2011", "\u2153", "\uff41", "\u00ad"):
        assert character not in SMART_REPLACEMENTS


def test_gsm_text_is_returned_as_is():
    text = "Hello {name}, 10€ off [today]!"
    assert optimize_text(text) is text


def test_the_example_of_the_docs_goes_from_two_ucs2_parts_to_one_gsm_part():
    text = (
        "Hi Ann, it\u2019s your \u201cVIP\u201d week \u2014 50% off everything until Sunday\u2026 Don\u2019t miss it!"
    )
    assert analyze(text).encoding == UCS2
    optimized = optimize_text(text)
    assert optimized == "Hi Ann, it's your \"VIP\" week - 50% off everything until Sunday... Don't miss it!"
    assert (analyze(text).segments, analyze(optimized).segments, analyze(optimized).encoding) == (2, 1, GSM7)


def test_bullets_and_fractions_make_a_text_gsm_at_a_third_of_the_parts():
    """Issue 21: Herald missed characters of Twilio's table and quoted 2–3× the parts."""
    text = (
        "Shopping list: \u2022 \u00bd kg sugar \u2022 2 bags of rice \u2022 a tin of milk \u2022 \u00bd kg of beans "
        "\u2022 bread \u2022 tea \u2022 soap. Pick it up at the shop before 6pm, thanks!"
    )
    optimized = optimize_text(text)
    assert optimized == (
        "Shopping list: - 1/2 kg sugar - 2 bags of rice - a tin of milk - 1/2 kg of beans "
        "- bread - tea - soap. Pick it up at the shop before 6pm, thanks!"
    )
    assert (analyze(text).encoding, analyze(text).segments) == (UCS2, 3)
    assert (analyze(optimized).encoding, analyze(optimized).segments) == (GSM7, 1)


def test_merci_ca_marche_stays_as_written():
    """Issue 21: smart encoding never changes a letter; ç keeps the text UCS-2, as Twilio's does."""
    text = "Merci, ça marche"
    assert optimize_text(text) is text
    assert analyze(text).encoding == UCS2


def test_a_text_with_a_letter_outside_gsm_is_left_as_written_typography_included():
    text = "Merci \u2014 \u00abça marche\u00bb\u2026"
    assert optimize_text(text) == text  # all or nothing: the dash, quotes and ellipsis stay too
    assert optimize_text("Łódź\u2026") == "Łódź\u2026"


def test_text_that_stays_ucs2_is_left_as_written():
    # an emoji keeps the message UCS-2 anyway; rewriting would only change its length
    text = "It\u2019s party time " + EMOJI + " \U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert optimize_text(text) == text


def test_smart_encoding_may_add_parts_as_twilio_does():
    """The replaced text is what is sent and what Twilio counts: seventy … are one UCS-2 part as
    written but 210 septets (two GSM parts) smart-encoded, and Twilio's Smart Encoding sends that."""
    text = "\u2026" * 70
    assert optimize_text(text) == "." * 210
    assert analyze(optimize_text(text)).segments == 2


@pytest.mark.parametrize(
    "text",
    [
        "na\u0303o e\u0302tre", "Bucures\u0326ti",  # não, être, ș typed as letter + combining mark
        "e\u0301\u0302",  # a mark of the table after another mark on the same letter
    ],
)  # fmt: skip
def test_a_combining_mark_of_the_table_on_a_letter_is_part_of_the_letter(text):
    """Twilio's table turns U+0303 into ~ and U+0326 into a comma, so "não" typed decomposed would go
    as "na~o": a changed letter. Herald keeps the letter, and so the text stays UCS-2."""
    assert optimize_text(text) == text


def test_a_combining_mark_of_the_table_on_no_letter_is_replaced():
    assert optimize_text("2 \u0302 3 and 1\u0338") == "2 ^ 3 and 1/"


@pytest.mark.parametrize(
    "text",
    [
        "Read \u201cthis\u201d: https://example.com/a\u2013b?q=\u2019x\u2019",
        "See www.example.com/\uff21\uff22 \u2014 now",
    ],
)
def test_a_character_inside_a_url_is_never_touched(text):
    assert optimize_text(text) == text


def test_text_around_a_url_is_optimized_and_the_url_kept():
    text = "Offer \u201cVIP\u201d \u2014 https://shop.example.com/p?id=1&x=%E2%80%94 \u2014 ends soon\u2026"
    assert optimize_text(text) == 'Offer "VIP" - https://shop.example.com/p?id=1&x=%E2%80%94 - ends soon...'


def test_a_replacement_that_would_extend_a_url_is_not_made():
    text = "Go to http://example.com\u2010promo now"  # the hyphen after the URL would join it
    assert [u for _, _, u in find_urls(text)] == ["http://example.com"]
    assert optimize_text(text) == text


def test_emails_are_protected_like_urls():
    text = "Write to \u201cme\u201d at info@example.com"
    assert optimize_text(text) == 'Write to "me" at info@example.com'


def test_find_urls():
    assert find_urls("no links here") == []
    assert find_urls("x https://a.example.org/p y") == [(2, 25, "https://a.example.org/p")]


# --- transliterate ---------------------------------------------------------------------------------


def test_transliterate_writes_a_letter_outside_gsm_with_its_closest_gsm_letter():
    assert optimize_text("Merci, ça marche", transliterate=True) == "Merci, ca marche"
    text = "\u00abÇa marche\u00bb, garçon \u2014 à bientôt, Łódź, Gdańsk, İstanbul, őz, ș\u2026"
    expected = '"Ça marche", garcon - à bientot, Lodz, Gdansk, Istanbul, oz, s...'
    assert optimize_text(text, transliterate=True) == expected
    assert analyze(expected).encoding == GSM7


def test_transliterate_is_all_or_nothing_too():
    text = "ça va \U0001f600"  # the emoji keeps it UCS-2: nothing is gained by changing the ç
    assert optimize_text(text, transliterate=True) == text
    assert optimize_text("Привет, ça va", transliterate=True) == "Привет, ça va"  # Cyrillic has no GSM letters


def test_transliterate_never_touches_a_url():
    text = "Café: https://example.com/café?q=ç"
    assert optimize_text(text, transliterate=True) == text  # the ç inside the URL stays: as written
    assert optimize_text("Voilà ça: https://example.com/x", transliterate=True) == "Voilà ca: https://example.com/x"


def test_transliterate_leaves_gsm_letters_and_text_alone():
    assert optimize_text("Grüße aus Köln, Ñandú, Åse, Æble, Øre", transliterate=True).startswith("Grüße aus Köln")
    text = "Hello"
    assert optimize_text(text, transliterate=True) is text
