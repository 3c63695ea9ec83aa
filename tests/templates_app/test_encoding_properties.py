"""Properties of encoding and smart encoding, checked on generated text (hypothesis)."""

from __future__ import annotations

import unicodedata

import gsm0338  # noqa: F401  registers the "gsm03.38" codec
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from templates_app.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    SMART_REPLACEMENTS,
    UCS2_PART_LIMIT,
    analyze,
    find_urls,
    is_gsm,
    optimize_text,
    split_segments,
)
from templates_app.graphemes import clusters, joined_positions

# Mostly GSM text, with look-alikes, emoji, other scripts and URLs mixed in, so every branch is hit.
pieces = st.sampled_from(
    [
        *GSM_BASIC, *GSM_EXTENSION, *SMART_REPLACEMENTS, "ç", "\U0001f600", "\U0001f468\u200d\U0001f469", "ж", "中",
        "\U0001f1fa\U0001f1ec", "\U0001f44d\U0001f3fd", "\u0301", "\u094d", "ê",
    ]
)  # fmt: skip
urls = st.sampled_from(
    [" https://example.com/a-b?c=d ", " www.example.org/x ", " http://ex.com/\u2019 ", " info@example.com "]
)
runs = st.builds(lambda piece, n: piece * n, pieces, st.integers(min_value=1, max_value=80))
chunks = st.one_of(pieces, runs, urls, st.text(max_size=10))
texts = st.lists(chunks, max_size=40).map("".join)


def _only_inserted(*pieces: str) -> bool:
    """The pieces keep their own grapheme clusters once joined: the join adds whole clusters and
    changes none. Parts hold whole clusters, so when an insertion rebuilds one (text put between a
    letter and its combining marks gives the marks another base) the parts can pack differently and
    fewer of them is possible (hypothesis found '@00𐀀' + 63 acute accents + '@@@': 3 parts, 2 with
    '@' inserted after 𐀀) — in Twilio's segmenter too. What must hold is the rest."""
    return clusters("".join(pieces)) == [cluster for piece in pieces for cluster in clusters(piece)]


@given(texts, texts)
def test_more_text_never_means_fewer_parts(a, b):
    assume(_only_inserted(a, b))
    assert analyze(a + b).segments >= analyze(a).segments
    assert analyze(a + b).segments >= analyze(b).segments


@given(texts, st.integers(min_value=0), texts)
def test_inserting_text_never_means_fewer_parts(a, at, b):
    at = at % (len(a) + 1)
    assume(_only_inserted(a[:at], a[at:]) and _only_inserted(a[:at], b, a[at:]))
    assert analyze(a[:at] + b + a[at:]).segments >= analyze(a).segments


@given(texts)
def test_parts_join_back_and_each_fits(text):
    parts = split_segments(text)
    info = analyze(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    if info.encoding == "gsm7":
        limit = 160 if len(parts) == 1 else 153
        sizes = [len(part.encode("gsm03.38")) for part in parts]  # an escape pair is two bytes here
    else:
        limit = 70 if len(parts) == 1 else 67
        sizes = [len(part.encode("utf-16-le", "surrogatepass")) // 2 for part in parts]
    assert all(size <= limit for size in sizes)
    assert sum(sizes) == info.length  # so no pair was split: each part re-encodes on its own


def _inside_overlong_clusters(text: str) -> set[int]:
    """Positions inside a cluster longer than a whole UCS-2 part (a base with dozens of combining
    marks): the one kind of cluster a part has to cut, since no part can hold it whole."""
    inside: set[int] = set()
    position = 0
    for cluster in clusters(text):
        if len(cluster.encode("utf-16-le", "surrogatepass")) // 2 > UCS2_PART_LIMIT:
            inside.update(range(position + 1, position + len(cluster)))
        position += len(cluster)
    return inside


@given(texts)
@example("@" + "\u0302" * 70)  # found by hypothesis in CI: one cluster of 71 units, cut, as it must be
def test_parts_never_end_inside_a_grapheme_cluster(text):
    joined = joined_positions(text) - _inside_overlong_clusters(text)
    ends, position = [], 0
    for part in split_segments(text)[:-1]:
        position += len(part)
        ends.append(position)
    assert not any(end in joined for end in ends)


@given(texts, st.booleans())
def test_smart_encoding_is_all_or_nothing(text, transliterate):
    optimized = optimize_text(text, transliterate=transliterate)
    assert optimized == text or is_gsm(optimized)


def _letters(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c).startswith("L") and c not in SMART_REPLACEMENTS]


@given(texts)
def test_smart_encoding_never_changes_a_letter(text):
    """Every letter outside Twilio's table is still there, in order (the table's full-width and
    small-capital look-alikes add their plain letters in between)."""
    remaining = iter(_letters(optimize_text(text)))
    assert all(letter in remaining for letter in _letters(text))


@given(texts)
def test_smart_encoding_never_changes_a_url(text):
    optimized = optimize_text(text)
    remaining = optimized
    for _, _, url in find_urls(text):
        assert url in remaining
        remaining = remaining[remaining.index(url) + len(url) :]


@given(texts, st.booleans())
def test_smart_encoding_is_idempotent(text, transliterate):
    once = optimize_text(text, transliterate=transliterate)
    assert optimize_text(once, transliterate=transliterate) == once


@given(st.text(max_size=50))
@settings(max_examples=500)
def test_gsm_classification_agrees_with_the_gsm0338_codec(text):
    try:
        text.encode("gsm03.38")
        codec_says = "\x1b" not in text  # ESC alone is refused on purpose (see encoding.py)
    except UnicodeEncodeError:
        codec_says = False
    assert is_gsm(text) == codec_says
    assert (analyze(text).encoding == "gsm7") == codec_says


@given(st.text(alphabet=st.sampled_from([*GSM_BASIC, *GSM_EXTENSION]), max_size=400))
def test_gsm_length_is_the_encoded_septet_count(text):
    assert analyze(text).length == len(text.encode("gsm03.38"))
