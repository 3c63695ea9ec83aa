"""The GSM 03.38 default alphabet: what a 7-bit SMS can carry. Data and one test, no database.

`encoding` counts with it, `transliteration` aims at it; both import it from here (neither imports
the other's module at import time).
"""

from __future__ import annotations

import re

# GSM 03.38 default alphabet in code-point order 0x00–0x7F, without ESC (0x1B: alone, it would
# swallow the next character on the handset, so text containing it is sent as UCS-2).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: two septets each (escape + character).
GSM_EXTENSION = "\f^{}\\[~]|€"

NON_GSM = re.compile("[^" + re.escape(GSM_BASIC + GSM_EXTENSION) + "]")


def is_gsm(text: str) -> bool:
    """True when every character is in the GSM 03.38 basic set or its extension table."""
    return NON_GSM.search(text) is None
