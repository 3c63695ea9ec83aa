"""RapidPro v2 `broadcasts.json` (COMPAT.md §2.4): under construction."""

from __future__ import annotations

from .base import RapidProView


class BroadcastsView(RapidProView):
    pass
