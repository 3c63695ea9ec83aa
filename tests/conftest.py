"""Fixtures shared by the whole suite. Real PostgreSQL and Redis; nothing of theirs is mocked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Client, Membership, Scope
from accounts.ratelimit import get_limiter
from tests.factories.accounts import ClientFactory, MembershipFactory, UserFactory, make_api_key

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Hypothesis: no per-example deadline (its default 200 ms fails a test as "unreliable timings" when
# a shared 2-core machine stalls one example, which says nothing about the code). The examples stay
# random: a counterexample found on a CI run is a real defect (one was: test_encoding_properties' @example).
hypothesis.settings.register_profile("herald", deadline=None)
hypothesis.settings.load_profile("herald")


def service_unavailable(name: str, reason: str) -> None:
    """Skip, or with REQUIRE_SERVICES=1 fail: CI must never pass by skipping what it could not reach."""
    message = f"{name} is not reachable: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def fresh_database(tmp: Path, *, kind: str) -> tuple[str, Callable[[], None]]:
    """(DATABASE_URL, cleanup) for a stack of real processes: a new database `herald_<kind>_…` on
    DATABASE_URL's server (dropped by the cleanup), else the embedded PostgreSQL under `tmp`."""
    from urllib.parse import urlparse, urlunparse

    import psycopg

    from config.embedded import embedded_database_url, stop_embedded_postgres
    from config.env import instance_tag

    base = os.environ.get("DATABASE_URL")
    if not base:
        return embedded_database_url(tmp / "var"), lambda: stop_embedded_postgres(tmp / "var")
    name = f"herald_{kind}_{instance_tag()}_{os.environ.get('HERALD_TEST_TAG', 'main')}"
    parsed = urlparse(base)
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_unavailable("PostgreSQL", str(exc))
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(parsed._replace(path=f"/{name}")), drop


def pytest_unconfigure(config: pytest.Config) -> None:
    """`make test` leaves nothing running that it started: without DATABASE_URL the settings
    started the embedded PostgreSQL on first use (config.env); stop it once the suite is done."""
    from config.embedded import stop_started_here

    stop_started_here()


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    get_limiter.cache_clear()
    yield
    get_limiter.cache_clear()


@pytest.fixture
def redis_url(settings: Any) -> str:
    import redis

    url = settings.REDIS_URL or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", str(exc))
    settings.REDIS_URL = url
    get_limiter.cache_clear()
    return url


class HeraldAPIClient(APIClient):
    """An APIClient that remembers which tenant and key it acts for."""

    tenant: Client
    api_key: ApiKey | None
    raw_key: str | None


@pytest.fixture
def tenant(db: None) -> Client:
    return ClientFactory()


@pytest.fixture
def make_api(db: None) -> Callable[..., HeraldAPIClient]:
    """make_api(scopes=[...], client=None, **key_options) → an APIClient sending that key."""

    def _make(scopes: list[str] | None = None, client: Client | None = None, **options: Any) -> HeraldAPIClient:
        client = client or ClientFactory()
        api_key, raw = make_api_key(client=client, scopes=scopes or list(Scope.values), **options)
        api = HeraldAPIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        api.tenant, api.api_key, api.raw_key = client, api_key, raw
        return api

    return _make


@pytest.fixture
def api(make_api: Callable[..., HeraldAPIClient]) -> HeraldAPIClient:
    """A client with every scope."""
    return make_api()


@pytest.fixture
def make_session_api(db: None) -> Callable[..., HeraldAPIClient]:
    """make_session_api(role='owner', client=None) → an APIClient logged in as a member (CSRF enforced)."""

    def _make(role: str = Membership.Role.OWNER, client: Client | None = None) -> HeraldAPIClient:
        client = client or ClientFactory()
        user = UserFactory()
        MembershipFactory(user=user, client=client, role=role)
        api = HeraldAPIClient(enforce_csrf_checks=False)
        api.force_login(user)
        api.tenant, api.api_key, api.raw_key = client, None, None
        return api

    return _make


@pytest.fixture
def smsc_factory() -> Iterator[Callable[..., Any]]:
    """smsc_factory(MAX_TPS=100, …) → a test SMSC (tests.smsc.Smsc, tests/smsc/README.md) in its own
    process; as many as wanted, all stopped after the test. Skips without node (fails in CI)."""
    from tests.smsc import running_smscs

    with running_smscs(service_unavailable) as start:
        yield start


@pytest.fixture
def smsc(smsc_factory: Callable[..., Any]) -> Any:
    """A test SMSC with its default settings (a receipt 200 ms after each accepted submit_sm)."""
    return smsc_factory()
