"""Opt-out and opt-in keywords of inbound messages (SPEC §5). Pure: no database.

The whole text must be the keyword: "STOP" opts out, "please stop" does not. Matching ignores case,
surrounding whitespace, punctuation at either end ("Stop.", "STOP!", "«stop»"), accents ("arrêt")
and spaces, hyphens or underscores inside ("opt-out", "stop all"), because people type keywords
that way and an opt-out must be honoured; docs/contacts.md explains the choice.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Final


class KeywordAction(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


OPT_OUT_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET"}
)
OPT_IN_KEYWORDS: Final = frozenset({"START", "UNSTOP", "YES"})
_LONGEST: Final = max(len(k) for k in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS)
_INNER_SEPARATORS = re.compile(r"[\s\-_‐-―]+")


def _is_edge_noise(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] == "P"


def normalize_keyword(text: str) -> str:
    """The text as a keyword candidate: NFKC, accents and edge punctuation dropped, upper case."""
    text = unicodedata.normalize("NFKC", text)
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    text = _INNER_SEPARATORS.sub("", text[start:end])
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return text.upper()


def keyword_action(text: str | None) -> KeywordAction | None:
    """OPT_OUT, OPT_IN, or None when the inbound text is not (only) a keyword."""
    if not text or len(text) > 4 * _LONGEST:  # a keyword with some punctuation, never a sentence
        return None
    word = normalize_keyword(text)
    if word in OPT_OUT_KEYWORDS:
        return KeywordAction.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return KeywordAction.OPT_IN
    return None
