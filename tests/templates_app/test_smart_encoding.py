"""Smart encoding (`optimize_text`): look-alikes become GSM, never inside a URL, never more parts."""

from __future__ import annotations

import pytest

from templates_app.encoding import GSM7, SMART_REPLACEMENTS, UCS2, analyze, find_urls, is_gsm, optimize_text

EMOJI = "\U0001f600"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It\u2019s \u201cgreat\u201d", 'It\'s "great"'),
        ("\u2018single\u2019 \u201alow\u201b", "'single' 'low'"),
        ("\u00abBonjour\u00bb", '"Bonjour"'),
        ("9\u20135 \u2014 daily \u2212 1 \u2010 2 \u2011 3", "9-5 - daily - 1 - 2 - 3"),
        ("Wait\u2026", "Wait..."),
        ("a\u00a0b\u2009c\u2002d\u2003e\u202ff\u3000g\th", "a b c d e f g h"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff\u00adgone", "zerowidthgone"),
        ("\uff28\uff45\uff4c\uff4c\uff4f\uff01 \uff11\uff12\uff13", "Hello! 123"),
        ("\u00bd price, \u00bc off, \u00be done, \u2153 more", "1/2 price, 1/4 off, 3/4 done, 1/3 more"),
        ("`quoted`", "'quoted'"),
        ("line\u2028next", "line\nnext"),
    ],
)
def test_replacements(text, expected):
    assert optimize_text(text) == expected
    assert is_gsm(expected)


def test_every_replacement_is_gsm():
    assert all(is_gsm(value) for value in SMART_REPLACEMENTS.values())
    assert not any(is_gsm(key) for key in SMART_REPLACEMENTS)


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


def test_text_that_stays_ucs2_is_left_as_written():
    # an emoji keeps the message UCS-2 anyway; rewriting would only risk emoji sequences (ZWJ)
    text = "It\u2019s party time " + EMOJI + " \U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert optimize_text(text) == text
    assert optimize_text("Łódź\u2026") == "Łódź\u2026"  # Ł has no GSM equivalent: the … stays too


def test_a_small_c_cedilla_goes_as_gsm_0x09():
    """Issue 13: compose with a ç and the switch fixes it. GSM's 0x09 (Ç) was ç in the first
    edition of GSM 03.38; the letter is the only one smart encoding changes."""
    text = "ça va\u2026 Le garçon a reçu le message"
    optimized = optimize_text(text)
    assert optimized == "Ça va... Le garÇon a reÇu le message"
    assert (analyze(text).encoding, analyze(optimized).encoding) == ("ucs2", GSM7)


def test_never_adds_parts():
    text = "\u2026" * 70  # 1 UCS-2 part; as "..." it would be 210 septets, 2 GSM parts
    assert optimize_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Read \u201cthis\u201d: https://example.com/a\u2013b?q=\u2019x\u2019",
        "See www.example.com/\uff41\uff42 \u2014 now",
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
