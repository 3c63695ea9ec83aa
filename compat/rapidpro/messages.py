"""RapidPro v2 `messages.json` (COMPAT.md §2.4): under construction."""

from __future__ import annotations

from .base import RapidProView


class MessagesView(RapidProView):
    pass
