"""RapidPro v2 `contact_actions.json` (COMPAT.md §2.4): under construction."""

from __future__ import annotations

from .base import RapidProView


class ContactActionsView(RapidProView):
    pass
