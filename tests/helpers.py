"""Assertions shared by API tests, and a way to run a coroutine from any test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """asyncio.run on a thread of its own. The browser tests' Playwright (sync API) leaves the main
    thread with a running event loop for the rest of the session, where asyncio.run refuses to
    start ("cannot be called from a running event loop"): a test after them must not depend on it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    runner = threading.Thread(target=target, name="run-async")
    runner.start()
    runner.join(timeout)
    if runner.is_alive():
        raise TimeoutError(f"the coroutine did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["result"]
    return result


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
