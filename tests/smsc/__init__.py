"""A test SMSC in its own process: tests/smsc/smsc.js on the npm `smpp` package (0.5.1), driven from Python.

    with Smsc.start(DLR_DELAY_MS=50, MAX_TPS=500) as smsc:
        connect to (smsc.host, smsc.port), bind with any system_id / password …
        smsc.stats()["max_unanswered"], smsc.submits(), smsc.send_mo(...), smsc.kill(); smsc.restart()

or the `smsc` fixture (tests/conftest.py; `smsc_factory` for other settings). Every setting is an
environment variable of smsc.js (README.md lists them); `configure()` changes most of them at run
time. Without `node` or tests/smsc/node_modules it skips, or with REQUIRE_SERVICES=1 fails (run
`npm ci --prefix tests/smsc`).

The destination suffix rules (`…444` throttled and so on) are read from rules.json, the file smsc.js
reads, and exposed here as constants; `number(suffix)` makes a destination that triggers one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

SMSC_DIR = Path(__file__).resolve().parent
SCRIPT = SMSC_DIR / "smsc.js"
RULES: dict[str, Any] = json.loads((SMSC_DIR / "rules.json").read_text(encoding="utf-8"))

# Destination suffixes (rules.json): what the simulator does with a submit_sm to a number ending so.
THROTTLED = "444"  # submit_sm_resp ESME_RTHROTTLED (0x58): retry later, slower
QUEUE_FULL = "555"  # ESME_RMSGQFUL (0x14): retry
UNDELIVERED = "666"  # accepted, then a receipt stat:UNDELIV (message_state 5, err 0A1)
PERMANENT = "777"  # ESME_RINVDSTADR (0x0B): a permanent error, fail at once
NO_RESPONSE = "888"  # never answered: the client's response timeout
EXPIRED = "999"  # accepted, then a receipt stat:EXPIRED (message_state 3, err 0FE)
SUFFIXES: dict[str, dict[str, Any]] = RULES["suffixes"]
STATS: dict[str, dict[str, Any]] = RULES["stats"]  # receipt stat -> message_state TLV, default err

ESME_ROK = 0x00
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58

MESSAGE_STATE = {"DELIVERED": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIVERABLE": 5, "ACCEPTED": 6, "UNKNOWN": 7}

START_TIMEOUT = 15.0
ONE_SHOT = ("CRASH_AFTER_SUBMITS", "DROP_AFTER_SUBMITS")
# Message ids are 10 hex digits (40 bits): 8 bits of the test process's pid, 12 of the start (or
# restart) within it, 20 (a million ids) of the simulator's own counter. So ids do not repeat across
# the starts of one test run (a live stack's database outlives every simulator) nor, mostly, between
# two runs at once.
_generation = 0
_generation_lock = threading.Lock()


def number(suffix: str = "", prefix: str = "2567700") -> str:
    """A destination number (E.164 digits, no '+') ending in `suffix`, e.g. number(THROTTLED)."""
    return (prefix + "00000000")[: 12 - len(suffix)] + suffix


def _env(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


class SmscUnavailableError(RuntimeError):
    """node or tests/smsc/node_modules is missing."""


def find_node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise SmscUnavailableError("the test SMSC needs Node.js (apt-get install nodejs npm)")
    if not (SMSC_DIR / "node_modules" / "smpp").is_dir():
        raise SmscUnavailableError("npm smpp is not installed: run `npm ci --prefix tests/smsc`")
    return node


def _next_id_start() -> int:
    global _generation
    with _generation_lock:
        _generation += 1
        return (os.getpid() % 2**8) * 2**32 + (_generation % 2**12) * 2**20 + 1


class Smsc:
    """One simulator process. Use `Smsc.start(**settings)` as a context manager."""

    def __init__(self, settings: dict[str, Any] | None = None, *, args: list[str] | None = None) -> None:
        self.node = find_node()
        self.settings = {key.upper(): _env(value) for key, value in (settings or {}).items()}
        self.args = list(args or [])
        self.host = "127.0.0.1"
        self.port = int(self.settings.pop("PORT", 0))
        self.control_port = int(self.settings.pop("CONTROL_PORT", 0))
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 — kept open for the process's life
        self.http = requests.Session()

    # --- life cycle ---------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def start(cls, *, args: list[str] | None = None, **settings: Any) -> Iterator[Smsc]:
        smsc = cls(settings, args=args)
        try:
            smsc.launch()
            yield smsc
        finally:
            smsc.stop()

    def launch(self) -> None:
        """Start node; on a restart, on the same two ports."""
        # Not the whole environment: a stray MAX_TPS or PORT of the test runner's must not configure it.
        env = {
            **{key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TMPDIR")},
            "ID_START": str(_next_id_start()),
            **self.settings,
            "PORT": str(self.port),
            "CONTROL_PORT": str(self.control_port),
        }
        self._stderr.seek(0)
        self._stderr.truncate()
        self.process = subprocess.Popen(
            [self.node, str(SCRIPT), *self.args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            cwd=SMSC_DIR,
        )
        line = self._ready_line()
        ready = json.loads(line)
        self.port, self.control_port = int(ready["port"]), int(ready["control_port"])

    def _ready_line(self) -> str:
        assert self.process is not None
        stdout = self.process.stdout
        assert stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not result or not result[0]:
            self.kill()
            raise RuntimeError(f"the test SMSC did not start: {self.stderr()[-2000:]}")
        return result[0].decode()

    def stderr(self) -> str:
        """What node wrote to stderr since the last (re)start (nothing, unless it failed)."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: no unbind, no FIN from the application (the kernel closes the sockets)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()

    def restart(self, **settings: Any) -> None:
        """Kill if running, then start again on the same ports, with the settings of the start and of
        configure() since, updated by these; the one-shot crash and drop settings are dropped."""
        self.kill()
        for key in ONE_SHOT:
            self.settings.pop(key, None)
        self.settings.update({key.upper(): _env(value) for key, value in settings.items()})
        deadline = time.monotonic() + 10
        while True:
            try:
                self.launch()
                return
            except RuntimeError:
                if time.monotonic() > deadline or "EADDRINUSE" not in self.stderr():
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            if self.process.stdout is not None:
                self.process.stdout.close()
        self.http.close()
        self._stderr.close()

    # --- the control channel ----------------------------------------------------------------------
    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, self.control_url + path, json=body, timeout=10)
        if response.status_code != 200:
            raise ValueError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Counters, max_unanswered (all sessions), and every session since the last reset."""
        return self._call("GET", "/stats")  # type: ignore[no-any-return]

    def sessions(self) -> list[dict[str, Any]]:
        return self.stats()["sessions"]  # type: ignore[no-any-return]

    def submits(self, since: int = 0) -> list[dict[str, Any]]:
        """Every submit_sm decoded, in arrival order (from index `since`)."""
        return self._call("GET", f"/submits?since={since}")  # type: ignore[no-any-return]

    def deliveries(self, since: int = 0) -> list[dict[str, Any]]:
        """Every deliver_sm (receipts and MO) with its state, attempts, sent_at and resp_at."""
        return self._call("GET", f"/deliveries?since={since}")  # type: ignore[no-any-return]

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/config")  # type: ignore[no-any-return]

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings of the running simulator (e.g. MAX_TPS=0, HOLD_RECEIPTS=1); 400s change nothing."""
        config = self._call("POST", "/config", settings)
        self.settings.update({key.upper(): _env(value) for key, value in settings.items()})  # kept by restart()
        return config  # type: ignore[no-any-return]

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")  # type: ignore[no-any-return]

    def send_receipt(
        self,
        message_id: str,
        stat: str = "DELIVRD",
        *,
        err: str | None = None,
        mode: str | None = None,
        system_id: str | None = None,
        session: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send a receipt for any id (known or not) now; extra: text_id ('hex'|'dec'), stamp_digits,
        source, destination, now=False (obey HOLD_RECEIPTS)."""
        body: dict[str, Any] = {"message_id": message_id, "stat": stat, **extra}
        for key, value in (("err", err), ("mode", mode), ("system_id", system_id), ("session", session)):
            if value is not None:
                body[key] = value
        return self._call("POST", "/receipt", body)  # type: ignore[no-any-return]

    def release_receipts(self, *, order: str = "fifo", count: int | None = None) -> dict[str, Any]:
        """Send the receipts held while HOLD_RECEIPTS=1, oldest first or (order='reverse') newest first."""
        body: dict[str, Any] = {"order": order}
        if count is not None:
            body["count"] = count
        return self._call("POST", "/receipts/release", body)  # type: ignore[no-any-return]

    def send_mo(
        self,
        text: str,
        *,
        sender: str,
        to: str,
        parts: int = 1,
        encoding: str = "gsm",
        concat: str = "udh",
        **extra: Any,
    ) -> list[dict[str, Any]]:
        """A mobile-originated message (deliver_sm, esm_class 0) from `sender` to `to`, in `parts`
        parts (UDH 05 00 03 or SAR TLVs); extra: system_id, session, ref, reverse=True."""
        body = {"text": text, "from": sender, "to": to, "parts": parts, "encoding": encoding, "concat": concat}
        return self._call("POST", "/mo", {**body, **extra})  # type: ignore[no-any-return]

    def drop(self, *, session: int | None = None, system_id: str | None = None, how: str = "close") -> list[int]:
        """Close sessions from the server side: how='close' (FIN), 'destroy' (at once), 'unbind' (unbind first)."""
        body: dict[str, Any] = {"how": how}
        if session is not None:
            body["session"] = session
        if system_id is not None:
            body["system_id"] = system_id
        return self._call("POST", "/drop", body)["dropped"]  # type: ignore[no-any-return]

    def enquire_link(self, *, session: int | None = None) -> list[int]:
        """Send an enquire_link from the SMSC to the open sessions (or one)."""
        body = {} if session is None else {"session": session}
        return self._call("POST", "/enquire_link", body)["sent"]  # type: ignore[no-any-return]

    def wait_for(self, predicate: Callable[[dict[str, Any]], Any], timeout: float = 10, what: str = "") -> Any:
        """Poll stats() until `predicate(stats)` is truthy; returns its value or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.stats())
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test SMSC: timed out after {timeout} s waiting for {what or predicate}")
            time.sleep(0.02)


@contextlib.contextmanager
def running_smscs(unavailable: Callable[[str, str], None]) -> Iterator[Callable[..., Smsc]]:
    """`start(**settings) -> Smsc` for as many simulators as a test wants; all stopped at the end.
    `unavailable(name, reason)` skips or fails (tests.conftest.service_unavailable) without node."""
    with contextlib.ExitStack() as stack:

        def start(*, args: list[str] | None = None, **settings: Any) -> Smsc:
            try:
                return stack.enter_context(Smsc.start(args=args, **settings))
            except SmscUnavailableError as error:
                unavailable("the test SMSC", str(error))
                raise

        yield start
