"""Grapheme clusters never split across parts (issue 21, SPEC §6): emoji ZWJ sequences, flags, skin
tones, keycaps, letters with their marks — cut as Twilio's segmenter cuts them. The clusters of
random texts in every alphabet are compared with the calculator's in test_twilio_oracle.py."""

from __future__ import annotations

import pytest

from templates_app.encoding import UCS2, analyze, split_segments
from templates_app.graphemes import clusters, joined_positions

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧: 8 UTF-16 units, one cluster
FLAG = "\U0001f1fa\U0001f1ec"  # 🇺🇬: two regional indicators, 4 units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FAMILY + "x", [FAMILY, "x"]),
        (
            "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea\U0001f1fa",
            ["\U0001f1eb\U0001f1f7", "\U0001f1e9\U0001f1ea", "\U0001f1fa"],
        ),
        ("\U0001f44d\U0001f3fd!", ["\U0001f44d\U0001f3fd", "!"]),  # 👍🏽 a skin tone
        ("1\ufe0f\u20e3", ["1\ufe0f\u20e3"]),  # keycap
        ("\U0001f3f3\ufe0f\u200d\U0001f308", ["\U0001f3f3\ufe0f\u200d\U0001f308"]),  # 🏳️‍🌈
        ("e\u0301\u0323a", ["e\u0301\u0323", "a"]),  # a letter with its marks
        ("\u0915\u094d\u0937", ["\u0915\u094d", "\u0937"]),  # क्ष: Unicode 10 has no conjunct rule
        ("\u1100\u1161\u11a8\ud55c", ["\u1100\u1161\u11a8", "\ud55c"]),  # Hangul jamo, then a syllable
        ("a\r\nb", ["a", "\r", "\n", "b"]),  # the calculator splits CR LF
        # Unicode 11+ emoji are not E_Base / Glue_After_Zwj in the splitter's tables: several clusters.
        ("\U0001f469\u200d\U0001f9b0", ["\U0001f469\u200d", "\U0001f9b0"]),  # 👩‍🦰
        ("\U0001f9b8\U0001f3fd", ["\U0001f9b8", "\U0001f3fd"]),  # 🦸🏽
        # The splitter's reading of GB12/13: a flag then two marks ends after the first mark.
        ("\U0001f1eb\U0001f1f7\u0301\u0301x", ["\U0001f1eb\U0001f1f7\u0301", "\u0301", "x"]),
        ("", []),
    ],
)
def test_clusters(text, expected):
    assert clusters(text) == expected


def test_text_without_joining_characters_is_one_cluster_a_code_point():
    assert joined_positions("Hello, мир, 中文, \U0001f600 and \ud55c\uad6d") == frozenset()


def test_a_flag_run_is_quoted_as_the_provider_counts_it():
    """Issue 21: "3 parts quoted, 4 charged". Cutting between code points put the two regional
    indicators of a flag in different parts; the provider keeps the flag whole."""
    text = "Happy Independence Day Uganda! " + FLAG * 42  # 199 units
    info = analyze(text)
    assert (info.encoding, info.length, info.segments) == (UCS2, 199, 4)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert all(FLAG * (len(part) // 2) == part for part in parts[1:])  # whole flags only


@pytest.mark.parametrize("emoji", [FAMILY, FLAG, "\U0001f44d\U0001f3fd", "1\ufe0f\u20e3", "e\u0301\u0301"])
def test_a_cluster_at_a_part_boundary_starts_the_next_part(emoji):
    text = "a" * 66 + emoji + "a" * 60
    parts = split_segments(text)
    assert parts[0] == "a" * 66
    assert parts[1].startswith(emoji)
    assert analyze(text).segments == len(parts)


def test_a_cluster_longer_than_a_part_is_cut():
    """81 units cannot go in one part; the calculator overflows a part with it, Herald cuts it."""
    text = "e" + "\u0301" * 80 + "abc"
    parts = split_segments(text)
    assert [len(part) for part in parts] == [67, 17]
    assert analyze(text).segments == 2
