"""SMS encoding (SPEC §6): GSM 03.38 vs UCS-2, lengths, parts, and splitting that never breaks a pair."""

from __future__ import annotations

import gsm0338  # noqa: F401  registers the "gsm03.38" codec
import pytest

from templates_app.encoding import (
    GSM7,
    GSM_BASIC,
    GSM_EXTENSION,
    UCS2,
    SmsInfo,
    analyze,
    is_gsm,
    non_gsm_characters,
    split_segments,
)

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),
        ("€" * 81, GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 152, GSM7, 306, 3),
        ("ç" + "a" * 69, UCS2, 70, 1),
        ("ç" + "a" * 70, UCS2, 71, 2),
        (EMOJI * 35, UCS2, 70, 1),
        (EMOJI * 36, UCS2, 72, 2),
        ("a" * 66 + EMOJI + "a" * 66, UCS2, 134, 3),
        ("Ç" + "a" * 159, GSM7, 160, 1),  # capital Ç is in the basic set, small ç is not
        ("a" * 134 + "ç", UCS2, 135, 3),
        ("a" * 158 + "€", GSM7, 160, 1),
        ("a" * 159 + "€", GSM7, 161, 2),
        ("\f", GSM7, 2, 1),
        ("^{}\\[~]|€", GSM7, 18, 1),
    ],
)
def test_required_vectors(text, encoding, length, segments):
    info = analyze(text)
    assert (info.encoding, info.length, info.segments) == (encoding, length, segments)
    assert len(split_segments(text)) == segments
    assert "".join(split_segments(text)) == text


def test_empty_text_is_zero_parts():
    assert analyze("") == SmsInfo(GSM7, 0, 0, ())
    assert split_segments("") == []


def test_non_gsm_characters_are_distinct_in_order_of_first_appearance():
    info = analyze("ça va? 😀 ça 😀 va… «oui»")
    assert info.encoding == UCS2
    assert info.non_gsm_characters == ("ç", EMOJI, "…", "«", "»")


def test_gsm_text_reports_no_non_gsm_characters():
    assert analyze("Hello {name}, 10€").non_gsm_characters == ()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        # the € would straddle the 153rd septet: it starts the next part
        ("a" * 152 + "€" + "a" * 152, [152, 152, 1]),
        ("a" * 152 + "€" + "a" * 10, [152, 11]),
        ("a" * 159 + "€", [153, 7]),
        ("€" * 81, [76, 5]),
        # the surrogate pair would straddle the 67th unit: it starts the next part
        ("a" * 66 + EMOJI + "a" * 66, [66, 66, 1]),
        (EMOJI * 36, [33, 3]),
        ("ç" + "a" * 70, [67, 4]),
        ("a" * 160, [160]),
    ],
)
def test_split_segments_never_splits_an_escape_or_surrogate_pair(text, parts):
    assert [len(p) for p in split_segments(text)] == parts


def test_split_parts_fit_their_limits():
    gsm = ("a" * 100 + "€[") * 10
    for part in split_segments(gsm):
        assert len(part) + sum(part.count(c) for c in GSM_EXTENSION) <= 153
    ucs = ("ç" * 50 + EMOJI) * 10
    for part in split_segments(ucs):
        assert len(part.encode("utf-16-le")) // 2 <= 67


def test_sms_limit_of_1224_characters_is_eight_gsm_parts():
    assert analyze("a" * 1224).segments == 8


@pytest.mark.parametrize("char", list(GSM_BASIC))
def test_every_basic_character_is_one_septet(char):
    assert analyze(char) == SmsInfo(GSM7, 1, 1, ())


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_every_extension_character_is_two_septets(char):
    assert analyze(char) == SmsInfo(GSM7, 2, 1, ())


@pytest.mark.parametrize("char", ["ç", "`", "\t", "\x1b", "’", "…", "é\u0301", "Ā", "\u00a0", "ё"])
def test_characters_outside_gsm_force_ucs2(char):
    assert not is_gsm(char)
    assert analyze(char).encoding == UCS2


def test_escape_is_not_gsm_even_though_the_codec_maps_it():
    # alone it would escape the following character on the handset
    assert "\x1b".encode("gsm03.38") == b"\x1b"
    assert not is_gsm("\x1b")


def test_classification_agrees_with_the_gsm0338_codec_on_every_code_point():
    disagreements = []
    for code in range(0x30000):
        char = chr(code)
        try:
            char.encode("gsm03.38")
            codec_says = char != "\x1b"
        except UnicodeEncodeError:
            codec_says = False
        if codec_says != is_gsm(char):
            disagreements.append(char)
    assert disagreements == []


def test_lone_surrogate_counts_as_one_unit():
    assert analyze("\ud800").length == 1


def test_non_gsm_characters_helper():
    assert non_gsm_characters("abc") == ()
    assert non_gsm_characters("éçç") == ("ç",)
