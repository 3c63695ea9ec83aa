"""/metrics on the live stack (SPEC §2): a broadcast sent by the Celery workers' pool processes and
reported to gunicorn's workers shows its exact counts in one scrape, summed over every process's file
(Prometheus' multiprocess mode, set up by scripts/run.py), and not one phone number, text or key."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.live.chaos_tools import CountingProvider
from tests.live.conftest import LiveStack, wait_for

# The code has letters no hex tag has: another test's connector name (a random hex tag) once held "7391".
TEXT = "Metrics check {{first_name|friend}}, code 7391QX"
COUNT = 300  # three batches of 100 (the live stack's BROADCAST_BATCH_SIZE): two dispatch lanes share them


def scrape(live: LiveStack, **headers: str) -> requests.Response:
    return requests.get(live.url("/metrics"), headers=headers, timeout=30)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def per_process(live: LiveStack, name: str, connector: str) -> dict[str, float]:
    """Each process's own file's value of a counter for this connector (file name -> value)."""
    found = {}
    for path in sorted((Path(live.env["HERALD_VAR_DIR"]) / "metrics").glob("counter_*.db")):
        for family in MultiProcessCollector.merge([str(path)]):
            for s in family.samples:
                if s.name == name and s.labels.get("connector") == connector and s.value:
                    found[path.name] = s.value
    return found


def test_a_broadcast_shows_its_counts_summed_over_processes_and_no_number(
    live: LiveStack, provider: CountingProvider, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    name, path, code, token = f"metrics-{tag}", f"/metrics-{tag}", f"METRICS_{tag.upper()}", f"metrics-token-{tag}"
    config = {"url": provider.url(path), "token": token}
    connector_id = live.manage(
        "createconnector", name, "--channel", "sms", "--backend", "http", "--config", json.dumps(config),
        "--tps", "1000",
    ).strip().splitlines()[-1]  # fmt: skip
    routes = tmp_path / "routes.csv"
    routes.write_text(
        "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier\n"
        f"sms,UG,,{code},{name},USD,0.02,premium\n"
    )
    live.manage("importroutes", str(routes))
    tenant = live.new_tenant(f"Metrics Tenant {tag}", balance="100")
    # The provider refuses one message in ten for good (400: failed `http_400`), accepts the rest.
    provider.policy = lambda message_id, nth: (400 if message_id % 10 == 0 else 200, 0.0)
    numbers = [f"+2567790{i:05d}" for i in range(COUNT)]
    body = {"name": "Metrics", "recipients": numbers, "text": TEXT, "sender": "Herald", "route": code}
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]

    def finished() -> bool:
        rows = live.sql(
            "SELECT count(*) FROM broadcasts_message"
            " WHERE broadcast_id = %s AND status IN ('pending', 'queued', 'sending')",
            [broadcast_id],
        )
        return rows[0][0] == 0

    wait_for(finished, 120, "the broadcast to be sent")
    ids = [row[0] for row in live.sql("SELECT id FROM broadcasts_message WHERE broadcast_id = %s", [broadcast_id])]
    refused = sum(1 for i in ids if i % 10 == 0)
    assert 0 < refused < COUNT
    # The provider reports 50 of the accepted ones delivered, to gunicorn's workers.
    delivered = [i for i in ids if i % 10][:50]
    answer = requests.post(
        live.url(f"/hooks/{connector_id}/status/"),
        json=[{"id": f"prov-{i}", "status": "delivered"} for i in delivered],
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    response = scrape(live)
    assert response.status_code == 200
    found = samples(response.text)

    def metric(metric_name: str, **labels: str) -> float:
        return found.get((metric_name, tuple(sorted({"connector": name, **labels}.items()))), 0.0)

    assert metric("herald_messages_handed_total") == COUNT
    assert metric("herald_messages_accepted_total") == COUNT - refused
    assert metric("herald_messages_failed_total", error_code="http_400") == refused
    assert metric("herald_provider_request_seconds_count") == COUNT
    assert metric("herald_delivery_reports_total", status="delivered") == 50
    assert metric("herald_delivery_report_lag_seconds_count") == 50
    assert found[("herald_queue_length", (("queue", "celery"),))] >= 0
    assert ("herald_broadcasts", (("status", "sending"),)) in found

    # Summed over processes: the sends were counted in Celery's pool processes, the reports in a
    # gunicorn worker; each wrote its own file and the one scrape adds them up.
    handed = per_process(live, "herald_messages_handed_total", name)
    reports = per_process(live, "herald_delivery_reports_total", name)
    assert sum(handed.values()) == COUNT
    assert sum(reports.values()) == 50
    assert len(set(handed) | set(reports)) >= 2, (handed, reports)

    shown = response.text
    for secret in [*numbers[:20], *(n.lstrip("+") for n in numbers[:20]), "Metrics check", "7391QX", token, tenant.key]:
        assert secret not in shown
    assert f"Metrics Tenant {tag}" not in shown


def test_loopback_reads_metrics_without_a_token_and_healthz_reads_the_broker(live: LiveStack) -> None:
    """Loopback is in the default METRICS_ALLOW: the stack's scrape needs no token, and an
    X-Forwarded-For is not believed (no TRUSTED_PROXIES), so it changes nothing. /healthz reads each
    queue's length from the live broker."""
    assert scrape(live, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    health: Any = requests.get(live.url("/healthz"), timeout=30).json()
    assert health["queue_lengths"] is not None
    assert "broker: unavailable" not in " ".join(health["problems"])
