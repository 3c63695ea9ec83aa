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
