"""Production settings: `check --deploy` is clean, and they refuse to start half-configured."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Not the test session's DJANGO_ALLOW_ASYNC_UNSAFE (the browser tests' conftest sets it for
    # Playwright): a deployment never has it, and `check --deploy` rightly refuses it.
    unset = ("SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.prod", **env_overrides})
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        {"SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "herald.example.com"},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ALLOWED_HOSTS": "herald.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "herald.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": secrets.token_urlsafe(64)}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_without_secret_key_or_allowed_hosts(overrides, message):
    result = manage(overrides, "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_openapi_schema_generates_without_warnings(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--fail-on-warn", "--format", "openapi-json", stdout=out, stderr=StringIO())
    assert '"/api/v1/me/"' in out.getvalue()


def test_every_model_change_has_a_migration(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO(), stderr=StringIO())


def test_docker_compose_holds_each_smpp_bind_once():
    """docker-compose (docker is not run here: its file is read): SMPP dispatch is routed to the
    `smpp` queue in every container by default, only the one-process smpp-worker (profile `smpp`)
    consumes it, and the default worker does not (its prefork children would each bind)."""
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["environment"]["SMPP_QUEUE"] == "${SMPP_QUEUE:-true}"
    worker, smpp = services["worker"]["command"], services["smpp-worker"]["command"]
    assert worker[worker.index("-Q") + 1] == "celery"
    assert (smpp[smpp.index("-Q") + 1], smpp[smpp.index("--concurrency") + 1]) == ("smpp", "1")
    assert services["smpp-worker"]["profiles"] == services["smpp-listener"]["profiles"] == ["smpp"]
