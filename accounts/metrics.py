"""Prometheus metrics (SPEC §2): what every process counts, and what /metrics reads at scrape time.

Two kinds, kept apart on purpose:

- **Counted where it happens**, in whichever process does it (gunicorn workers, Celery prefork
  children, the SMPP receiver): messages handed, accepted and failed, provider request latency,
  delivery reports and their lag, SMPP binds and window. The hot paths call the small functions
  below, one line each. In multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set before the process
  starts, as `scripts/run.py`, the Docker image and the live tests do) each process writes its own
  memory-mapped file and /metrics adds them up; without it (tests, `runserver`) they live in this
  process's registry.
- **Read from the database and the broker at scrape time** (`FactsCollector`): due messages and the
  age of the oldest, undelivered webhook deliveries and the age of the oldest, queue lengths,
  broadcasts by status, beat's and each queue's last heartbeat. Computed once per scrape by the web
  process that answers it, by the selectors `settings.METRICS_FACTS` names (each app's own, as
  /healthz's backlogs are), never by every process.

Labels are connector names, error codes, statuses and queue names only: never a phone number, a
text, a key or a client's name (SPEC §2). Instrumentation can be switched off in a process
(`set_enabled(False)`): bench/bench_metrics.py measures dispatch with and without it.

SMPP connectors set `SMPP_BINDS_UP`, `SMPP_WINDOW_IN_USE` and `SMPP_WINDOW_SIZE` (gauges summed over
the live processes; a process that exits is marked dead and drops out).
"""

from __future__ import annotations

import bisect
import glob
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import REGISTRY, Collector

# --- counted where it happens ------------------------------------------------------------------------

MESSAGES_HANDED = Counter(
    "herald_messages_handed", "Messages handed to a provider (the write-ahead mark before the request)", ["connector"]
)
MESSAGES_ACCEPTED = Counter("herald_messages_accepted", "Messages a provider accepted", ["connector"])
MESSAGES_FAILED = Counter(
    "herald_messages_failed",
    "Messages failed when sending (refused by the provider, retries exhausted, unknown outcome)",
    ["connector", "error_code"],
)
PROVIDER_LATENCY = Histogram(
    "herald_provider_request_seconds",
    "One provider request, from its start to its complete answer (or its error)",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)
DELIVERY_REPORTS = Counter(
    "herald_delivery_reports", "Delivery reports applied to a message, by the status they set", ["connector", "status"]
)
DELIVERY_REPORT_LAG = Histogram(
    "herald_delivery_report_lag_seconds",
    "From a message's sent_at to the moment its delivery report (delivered or failed) was applied",
    ["connector"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0),
)
WEBHOOK_ATTEMPTS = Counter(
    "herald_webhook_attempts", "Webhook delivery attempts, by outcome (succeeded or failed)", ["outcome"]
)
SMPP_BINDS_UP = Gauge("herald_smpp_binds_up", "SMPP binds bound and usable", ["connector"], multiprocess_mode="livesum")
SMPP_WINDOW_IN_USE = Gauge(
    "herald_smpp_window_in_use", "submit_sm PDUs sent and not yet answered", ["connector"], multiprocess_mode="livesum"
)
SMPP_WINDOW_SIZE = Gauge(
    "herald_smpp_window_size", "The window of the bound binds (their sum)", ["connector"], multiprocess_mode="livesum"
)

_enabled = True


def set_enabled(flag: bool) -> None:
    """Turn this process's instrumentation into no-ops (bench/bench_metrics.py) or back on."""
    global _enabled  # one switch per process, read on the hot path
    _enabled = flag


def messages_handed(connector: str, count: int) -> None:
    if _enabled and count:
        MESSAGES_HANDED.labels(connector).inc(count)


def sends_recorded(accepted: Iterable[str], failed: Iterable[tuple[str, str]]) -> None:
    """One request group's record: the connector of each message recorded sent, and (connector,
    error code) of each recorded failed."""
    if not _enabled:
        return
    counts: dict[str, int] = {}
    for name in accepted:
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        MESSAGES_ACCEPTED.labels(name).inc(count)
    failures: dict[tuple[str, str], int] = {}
    for key in failed:
        failures[key] = failures.get(key, 0) + 1
    for (name, code), count in failures.items():
        MESSAGES_FAILED.labels(name, error_code_label(code)).inc(count)


_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DIGITS = re.compile(r"\d{7}")  # as long as a phone number's subscriber part
_HEX = re.compile(r"0x[0-9A-Fa-f]+")  # a protocol status (SMPP's `smpp_0x00000058`) is not a number
_codes: dict[str, str] = {}


def error_code_label(code: str) -> str:
    """An error code as a label: Herald's codes (`http_400`, `twilio_21610`, `smpp_0x00000058`) as they are;
    anything a provider could have filled with a number or text (long, odd characters, seven digits
    in a row) as `other`, so no label ever carries one, and label values stay few."""
    label = _codes.get(code)
    if label is None:
        if not code:
            label = "send_failed"
        elif _CODE.fullmatch(code) and not _DIGITS.search(_HEX.sub("", code)):
            label = code
        else:
            label = "other"
        if len(_codes) < 1000:
            _codes[code] = label
    return label


def observe_many(child: Any, values: Sequence[float]) -> None:
    """Observe many values in a histogram's child at the cost of one write per bucket touched.

    In multiprocess mode every write is a locked write to a memory-mapped file (3-8 µs); observing a
    group's hundred latencies and report lags one by one cost ~5 % of the send engine's time per
    message (bench/bench_metrics.py, docs/benchmarks.md).
    prometheus-client has no bulk observe, so this adds to the child's bucket and sum values as its
    own `observe` does (pinned version; tests/accounts/test_metrics.py checks both give the same
    exposition), falling back to `observe` where those are not there."""
    buckets, total, bounds = (getattr(child, n, None) for n in ("_buckets", "_sum", "_upper_bounds"))
    if buckets is None or total is None or bounds is None:
        for value in values:
            child.observe(value)
        return
    counts: dict[int, int] = {}
    for value in values:
        index = bisect.bisect_left(bounds, value)  # the first bound >= value (the last is +Inf)
        counts[index] = counts.get(index, 0) + 1
    total.inc(sum(values))
    for index, count in counts.items():
        buckets[index].inc(count)


def provider_requests(connector: str, seconds: Sequence[float]) -> None:
    """The durations of a batch's provider requests (connectors/http.py, once per batch)."""
    if _enabled and seconds:
        observe_many(PROVIDER_LATENCY.labels(connector), seconds)


def reports_applied(connector: str, status: str, sent_at: Sequence[datetime | None], now: datetime) -> None:
    """Reports that moved messages to `status`; their lag for delivered and failed ones."""
    if not _enabled or not sent_at:
        return
    DELIVERY_REPORTS.labels(connector, status).inc(len(sent_at))
    if status in ("delivered", "failed"):
        lags = [max(0.0, (now - moment).total_seconds()) for moment in sent_at if moment is not None]
        if lags:
            observe_many(DELIVERY_REPORT_LAG.labels(connector), lags)


def webhook_attempts(outcomes: Iterable[bool]) -> None:
    """A recorded batch of webhook delivery attempts: True for each that succeeded."""
    if not _enabled:
        return
    results = list(outcomes)
    succeeded = sum(results)
    if succeeded:
        WEBHOOK_ATTEMPTS.labels("succeeded").inc(succeeded)
    if len(results) - succeeded:
        WEBHOOK_ATTEMPTS.labels("failed").inc(len(results) - succeeded)


def process_exited(pid: int) -> None:
    """A gunicorn worker or Celery pool process ended: its live gauges (SMPP binds, window) go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(pid)


# --- read at scrape time -----------------------------------------------------------------------------

# What each app's facts selector returns (a dict), and how it is shown: name -> (help, label name or
# None). A value is a number, or a dict label value -> number; None (nothing waits) is left out.
FACTS: dict[str, tuple[str, str | None]] = {
    "herald_messages_due": ("Messages due to send now and not sent yet (queued minus waiting)", None),
    "herald_messages_due_oldest_age_seconds": ("How long the oldest due message has waited for a dispatcher", None),
    "herald_broadcasts": ("Broadcasts by status", "status"),
    "herald_webhook_deliveries_undelivered": ("Webhook deliveries not delivered yet (pending or sending)", None),
    "herald_webhook_undelivered_oldest_age_seconds": ("How long the oldest due webhook delivery has waited", None),
    "herald_queue_length": ("Tasks waiting in a Celery queue of the broker", "queue"),
    "herald_heartbeat_age_seconds": ("Seconds since beat's, or a queue's consumer's, last heartbeat", "source"),
    "herald_facts_errors": ("Scrape-time readings that failed (the reading is then missing)", "source"),
}


class FactsCollector(Collector):
    """Gauges read once per scrape by the selectors `settings.METRICS_FACTS` names (dotted paths to
    functions of `now` returning a dict of FACTS names). A failing reading is counted in
    herald_facts_errors and left out; the rest of the scrape still answers."""

    def __init__(self, readers: dict[str, Any], now: datetime) -> None:
        self.readers = readers
        self.now = now

    def collect(self) -> Iterator[Metric]:
        values: dict[str, Any] = {}
        errors: dict[str, float] = {}
        for source, reader in self.readers.items():
            try:
                values.update(reader(now=self.now))
                errors[source] = 0
            except Exception:  # noqa: BLE001 - one broken reading must not cost the whole scrape
                errors[source] = 1
        values["herald_facts_errors"] = errors
        for name, (help_text, label) in FACTS.items():
            value = values.get(name)
            if value is None:
                continue
            family = GaugeMetricFamily(name, help_text, labels=[label] if label else None)
            if isinstance(value, dict):
                for key, number in sorted(value.items()):
                    family.add_metric([str(key)], float(number))
            else:
                family.add_metric([], float(value))
            yield family


class _ProcessFiles(Collector):
    """The per-process files of every process (multiprocess mode), summed by prometheus-client. With
    HERALD_METRICS_ROOT (Docker: one directory per container on a shared volume, since process ids
    repeat between containers) every directory under it; otherwise PROMETHEUS_MULTIPROC_DIR."""

    def __init__(self, directories: list[str]) -> None:
        self.directories = directories

    def collect(self) -> Iterable[Metric]:
        files = sorted(f for d in self.directories for f in glob.glob(os.path.join(d, "*.db")))
        return MultiProcessCollector.merge(files, accumulate=True)


class _ThisProcess(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def process_directories() -> list[str]:
    root = os.environ.get("HERALD_METRICS_ROOT", "")
    if root:
        return sorted(d for d in glob.glob(os.path.join(root, "*")) if os.path.isdir(d))
    own = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return [own] if own else []


def exposition(readers: dict[str, Any], now: datetime) -> bytes:
    """The text format of every process's counters and this scrape's facts."""
    registry = CollectorRegistry(auto_describe=False)
    directories = process_directories()
    registry.register(_ProcessFiles(directories) if directories else _ThisProcess())
    registry.register(FactsCollector(readers, now))
    return generate_latest(registry)
