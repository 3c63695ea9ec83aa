"""Fixtures of the compatibility APIs' tests: an API client sending its key as the emulated system does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import HeraldAPIClient


@pytest.fixture
def make_rapidpro(make_api: Callable[..., HeraldAPIClient]) -> Callable[..., HeraldAPIClient]:
    """make_rapidpro(scopes=[...], client=None) → an APIClient sending `Authorization: Token <key>`."""

    def _make(*args: Any, **kwargs: Any) -> HeraldAPIClient:
        api = make_api(*args, **kwargs)
        api.credentials(HTTP_AUTHORIZATION=f"Token {api.raw_key}")
        return api

    return _make


@pytest.fixture
def rapidpro(make_rapidpro: Callable[..., HeraldAPIClient]) -> HeraldAPIClient:
    return make_rapidpro()


# --- sending through the compat APIs (broadcasts.json, messages.json) ------------------------------
# A tenant ready to send (wallet, routes, simulator connectors, a sender), as the broadcasts suite has it.
from tests.broadcasts.conftest import Shop, daytime, make_shop, shop  # noqa: E402, F401


@pytest.fixture
def make_temba(monkeypatch: pytest.MonkeyPatch) -> Callable[[HeraldAPIClient], Any]:
    """make_temba(api) → rapidpro-python's TembaClient("https://testserver", api's key), its HTTP
    carried by `api` (Django's test client) instead of the network: the real client's requests,
    pagination and parsing against Herald."""
    import json as _json

    import requests
    import temba_client.base
    from requests.structures import CaseInsensitiveDict
    from temba_client.v2 import TembaClient

    def _make(api: HeraldAPIClient) -> TembaClient:
        def request(method: str, url: str, **kwargs: Any) -> requests.Response:
            prepared = requests.Request(method.upper(), url, params=kwargs.get("params")).prepare()
            assert prepared.url is not None
            path = prepared.url.split("://testserver", 1)[1]
            body = _json.dumps(kwargs["data"]) if "data" in kwargs else ""
            answer = api.generic(
                method.upper(),
                path,
                body,
                content_type="application/json",
                secure=True,
                HTTP_AUTHORIZATION=kwargs["headers"]["Authorization"],
            )
            response = requests.Response()
            response.status_code = answer.status_code
            response._content = answer.content
            response.headers = CaseInsensitiveDict(dict(answer.headers))
            response.url, response.reason = prepared.url, answer.reason_phrase
            return response

        monkeypatch.setattr(temba_client.base, "request", request)
        return TembaClient("https://testserver", api.raw_key)

    return _make
