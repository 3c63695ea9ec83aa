"""RapidPro v2 `groups.json` (COMPAT.md §2.4): under construction."""

from __future__ import annotations

from .base import RapidProView


class GroupsView(RapidProView):
    pass
