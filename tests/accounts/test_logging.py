"""No API key secret (or other sensitive field) is written to a log."""

from __future__ import annotations

import logging

import pytest
import structlog

from config.logging import REDACTED, redact_sensitive

pytestmark = pytest.mark.django_db


def test_redaction_blanks_sensitive_fields():
    event = redact_sensitive(None, "info", {"event": "x", "phone": "+256700000000", "Token": "t", "client_id": "c"})
    assert event == {"event": "x", "phone": REDACTED, "Token": REDACTED, "client_id": "c"}


def test_creating_and_using_a_key_logs_no_secret(make_session_api, caplog):
    caplog.set_level(logging.DEBUG)
    owner = make_session_api()
    with structlog.testing.capture_logs() as captured:
        created = owner.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json").json()
        from rest_framework.test import APIClient

        integrator = APIClient()
        integrator.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
        integrator.get("/api/v1/me/")
        integrator.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}x")
        integrator.get("/api/v1/me/")
    secret = created["key"].split("_")[2]
    everything = caplog.text + repr(captured)
    assert "api_key.created" in repr(captured)
    assert secret not in everything
    assert created["key"] not in everything
