"""Rewriting a message's web links into per-recipient short links (pure: no database).

Every link linkify-it finds (templates_app.encoding.find_web_links: the detector smart encoding
uses too) becomes `{TRACKING_BASE_URL}/r/{code}`, a code of 7 base62 characters from `secrets`.
A rendered text is first rewritten with placeholder codes of the same length (`template`), so its
encoding and parts are those of every recipient's real text and are worked out once per distinct
text; `fill` then puts each recipient's own codes in.
"""

from __future__ import annotations

import secrets
import string
from functools import lru_cache

from templates_app.encoding import find_web_links

ALPHABET = string.digits + string.ascii_letters  # base62
CODE_LENGTH = 7
# A longer URL is left as written: the unique index over (broadcast, url) has a size limit.
MAX_URL_LENGTH = 2000


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _placeholder(index: int) -> str:
    return f"{index:0{CODE_LENGTH}d}"


class Rewriter:
    """One broadcast's rewriting, with the tracking base URL it was made with."""

    def __init__(self, base_url: str) -> None:
        self.prefix = f"{base_url.rstrip('/')}/r/"
        self.template = lru_cache(maxsize=4096)(self._template)

    def _template(self, text: str) -> tuple[str, tuple[str, ...]]:
        """(text with each link replaced by a placeholder short link, the links' URLs in order)."""
        pieces: list[str] = []
        urls: list[str] = []
        position = 0
        for start, end, url in find_web_links(text):
            if len(url) > MAX_URL_LENGTH:
                continue
            pieces.append(text[position:start])
            pieces.append(self.prefix + _placeholder(len(urls)))
            urls.append(url)
            position = end
        if not urls:
            return text, ()
        pieces.append(text[position:])
        return "".join(pieces), tuple(urls)

    def fill(self, text: str, urls: tuple[str, ...]) -> tuple[str, list[tuple[str, str]]]:
        """`text` (a templated text, perhaps smart-encoded since) with a new code in each
        placeholder; returns it and the (url, code) pairs in order."""
        links = []
        for index, url in enumerate(urls):
            code = new_code()
            text = text.replace(self.prefix + _placeholder(index), self.prefix + code, 1)
            links.append((url, code))
        return text, links

    def replace_code(self, text: str, old: str, new: str) -> str:
        """A code that collided with another (unique index) replaced by a new one of equal length."""
        return text.replace(self.prefix + old, self.prefix + new, 1)
