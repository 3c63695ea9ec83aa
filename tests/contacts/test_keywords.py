"""Inbound opt-out / opt-in keywords (SPEC §5): the whole text, any case, trimmed."""

from __future__ import annotations

import pytest

from contacts.keywords import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, KeywordAction, keyword_action

OUT, IN = KeywordAction.OPT_OUT, KeywordAction.OPT_IN


@pytest.mark.parametrize("keyword", sorted(OPT_OUT_KEYWORDS))
@pytest.mark.parametrize("spelling", [str.upper, str.lower, str.title])
def test_every_opt_out_keyword_in_any_case(keyword, spelling):
    assert keyword_action(spelling(keyword)) is OUT


@pytest.mark.parametrize("keyword", sorted(OPT_IN_KEYWORDS))
@pytest.mark.parametrize("spelling", [str.upper, str.lower, str.title])
def test_every_opt_in_keyword_in_any_case(keyword, spelling):
    assert keyword_action(spelling(keyword)) is IN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  stop  ", OUT),
        ("\nStop\t", OUT),
        ("Stop.", OUT),  # trailing punctuation counts (docs/contacts.md)
        ("STOP!!", OUT),
        ("«stop»", OUT),
        ("'quit'", OUT),
        ("Arrêt", OUT),  # accents do not matter: ARRET
        ("arret", OUT),
        ("opt-out", OUT),  # separators inside: OPTOUT
        ("Opt out", OUT),
        ("stop all", OUT),
        ("ＳＴＯＰ", OUT),  # full-width letters
        ("Yes!", IN),
        ("un-stop", IN),
        ("start", IN),
    ],
)
def test_trimmed_case_and_punctuation_insensitive(text, expected):
    assert keyword_action(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "please stop",
        "stop sending me messages",
        "STOP STOP",
        "don't stop",
        "stopp",
        "S.T.O.P",
        "yes please",
        "starting",
        "no",
        "🛑",
        "stop 🛑",
        "1",
        "stop" + "!" * 100,  # not a keyword with some punctuation any more
    ],
)
def test_anything_else_is_not_a_keyword(text):
    assert keyword_action(text) is None
