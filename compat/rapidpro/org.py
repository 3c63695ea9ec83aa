"""`GET /api/v2/org.json` and `workspace.json`: the client (tenant) the key belongs to."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from .base import RapidProView


class OrgView(RapidProView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.client
        return Response(
            {
                "uuid": str(client.pk),
                "name": client.name,
                "country": client.country,
                "languages": [client.language],
                "primary_language": client.language,
                "timezone": client.timezone,
                "date_style": "day_first",
                "anon": False,
                # RapidPro's own backwards-compatibility constant (it has no credits either).
                "credits": {"used": -1, "remaining": -1},
            }
        )
