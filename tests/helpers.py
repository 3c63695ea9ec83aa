"""Assertions shared by API tests."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, error_type: str, code: str | None = None) -> dict[str, Any]:
    """The response is SPEC §4's error envelope with this status, type (and code); returns the error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"type", "code", "message", "fields"}, body
    assert body["error"]["type"] == error_type, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error
