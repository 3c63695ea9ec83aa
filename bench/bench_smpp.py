"""SMPP speed (issue 23): Herald end to end over one bind, beside the raw library, against ONE simulator.

Every figure comes from the same run and the same test SMSC process (tests/smsc: npm `smpp` 0.5.1
in node, receipts 200 ms after the submit as in the SMPP notes' A.5), one bind each, window 50 on loopback:

1. raw smpplib client: smpplib 2.2.4 (the library whose codec Herald uses) driven as the SMPP notes'
   A.5 did: one `bind_transceiver`, a `threading.Semaphore(50)` released in `message_sent_handler`,
   `listen()` on a second thread; submit_sm_resp/s (its receipts are acknowledged by smpplib).
2. Herald session alone: `broadcasts.smpp.session.Session` (Herald's asyncio bind, its window, its
   codec) submitting N prebuilt submit_sm; submit_sm_resp/s. No database.
3. Herald end to end: a broadcast to a contact list of N created with `broadcast_create`, dispatched
   by the dispatcher's own code (`dispatch_run` → `GroupSender` → `SmppConnector.submit` over the
   process's kept bind) and every receipt stored by `broadcasts.smpp.store` (the bind answers each
   deliver_sm only after its receipt is stored); messages/s from the create call until every message
   is `delivered` in the database. The bench runs with the test settings (Celery eager): the
   dispatch task's body runs in this process, as one worker's child would run it, no broker. Beat's
   `early_reports_sweep` runs while waiting (a receipt read before its message's record is kept as
   an early report, as in production). Targets: ≥ 4,000 messages/s and ≥ 0.5× the raw client.
   After it, a diagnostic line `smpp_message_table`: the message table's heap and how many of its
   row updates were HOT (its fillfactor leaves room for the handed mark's: docs/broadcasts.md).
3b. Herald as deployed: the same broadcast in a child process with production settings, a Redis
   broker, a default-queue worker (the preparation) and the one-process smpp worker holding the
   bind (`SMPP_QUEUE`), as `make run` starts them; from the create call until every message is
   `delivered` (no beat: a receipt that raced its record is rechecked by the store itself).
4. Behind a 50 ms RTT proxy (an asyncio TCP proxy in a child process delaying each direction 25 ms,
   forwarding at once and ACKing at once, TCP_QUICKACK): Herald's session at window 10 and 50, msg/s
   and the ratio to window/RTT (target ≥ 0.9), and the raw smpplib client beside it. More than
   1.05 × window/RTT is impossible (the proxy or the window is broken).

Checked in every mode: every submit answered ESME_ROK, every receipt back on loopback (behind the
proxy they are counted, not waited for), every message delivered, and the simulator never saw more
than `window` unanswered on a bind (its own count). `--quick` (CI):
small counts, under ~30 s, targets reported, not enforced.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_smpp.py
    .venv/bin/python bench/bench_smpp.py --quick
    .venv/bin/python bench/bench_smpp.py --profile          # + phases and cProfile of the end-to-end step
    .venv/bin/python bench/bench_smpp.py --accepted-only    # diagnostic: no receipts asked, end = all sent
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import BASE_DIR, Verdict, bench_database, quick_option, report, require

WINDOW = 50
RTT = 0.050
TEXT = "Hi {{first_name}}, your code is 1234. Reply STOP to opt out."
RAW_TEXT = b"Hi Name7, your code is 1234. Reply STOP to opt out."
SIZES = {
    "quick": {"messages": 1500, "proxy": {10: 200, 50: 600}},
    "full": {"messages": 20000, "proxy": {10: 1000, 50: 5000}},
}
CONNECTOR = "bench-smpp"


def destination(i: int) -> str:
    """12 digits ending in 1: no simulator suffix rule (444, 555, … 999) applies."""
    return f"25677{i:06d}1"


# --- 1. the raw library ---------------------------------------------------------------------------


def raw_smpplib(host: str, port: int, count: int, window: int) -> tuple[float, int, int]:
    """(seconds until every submit_sm_resp, accepted, receipts seen by then + 10 s)."""
    import smpplib.client
    import smpplib.consts

    client = smpplib.client.Client(host, port, allow_unknown_opt_params=True)
    slots = threading.Semaphore(window)
    counts = {"ok": 0, "error": 0, "receipts": 0}
    answered = threading.Event()

    def sent(pdu: Any) -> None:
        if pdu.status == 0:
            counts["ok"] += 1
        if counts["ok"] + counts["error"] >= count:
            answered.set()
        slots.release()

    def error(pdu: Any) -> None:  # smpplib calls both handlers for an error (A.3, 8): count once
        counts["error"] += 1

    def received(pdu: Any) -> None:
        counts["receipts"] += 1

    client.set_message_sent_handler(sent)
    client.set_error_pdu_handler(error)
    client.set_message_received_handler(received)
    client.connect()
    client.bind_transceiver(system_id="raw", password="x")  # noqa: S106 - any password binds

    def listen() -> None:
        with contextlib.suppress(Exception):
            client.listen()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    started = time.perf_counter()
    for i in range(count):
        slots.acquire()
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Herald",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=destination(i), short_message=RAW_TEXT, registered_delivery=1,
        )  # fmt: skip
    answered.wait(60)
    seconds = time.perf_counter() - started
    deadline = time.monotonic() + 10
    while counts["receipts"] < counts["ok"] and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(Exception):
        client.disconnect()
    listener.join(2)
    return seconds, counts["ok"], counts["receipts"]


# --- 2. and 4. Herald's session alone --------------------------------------------------------------


def session_alone(host: str, port: int, count: int, window: int) -> tuple[float, int, int]:
    """Herald's Session: (seconds until every submit_sm_resp, accepted, receipts answered)."""
    from broadcasts.smpp import codec
    from broadcasts.smpp.config import SmppConfig
    from broadcasts.smpp.session import Session

    config = SmppConfig.from_dict(
        {"host": host, "port": port, "system_id": "herald", "window": window, "response_timeout": 30}
    )
    part = codec.parts_for("Hi Name7, your code is 1234. Reply STOP to opt out.", config, ref=0)[0]
    receipts = [0]

    async def stored(pdus: list[Any]) -> None:
        receipts[0] += len(pdus)

    async def main() -> tuple[float, int]:
        session = Session(config, mode="bind_transceiver", on_deliver=stored, name="bench")
        await session.connect()

        statuses: list[int] = []
        todo = iter(range(count))

        async def feeder() -> None:
            for i in todo:
                address = codec.addresses("Herald", destination(i), config)
                status, _ = await session.submit(
                    lambda sequence, a=address: codec.submit_sm(sequence=sequence, part=part, address=a, config=config)
                )
                statuses.append(status)

        started = time.perf_counter()
        # 2 × window submitters: the window full, and as many waiting for a slot, already encoded (as
        # the connector's group of up to 100 messages is).
        await asyncio.gather(*(feeder() for _ in range(2 * window)))
        seconds = time.perf_counter() - started
        accepted = sum(1 for s in statuses if s == 0)
        deadline = time.monotonic() + 10
        while receipts[0] < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await session.close(unbind=True)
        return seconds, accepted

    seconds, accepted = asyncio.run(main())
    return seconds, accepted, receipts[0]


# --- 4. the 50 ms RTT proxy ------------------------------------------------------------------------


def serve_proxy(host: str, port: int, one_way: float) -> None:
    """A TCP proxy to host:port (its own process, so that it never waits on the bench's GIL): every
    chunk is forwarded `one_way` seconds after it was read, in order, while reading goes on (a delay
    line, not a stop-and-wait). Prints its port, then serves until killed."""

    def quickack(sock: Any) -> None:
        # Re-armed after every read: the proxy ACKs at once, as an SMSC answering each PDU does
        # (SMPP notes A.3, 2: behind a proxy that delays its ACKs, Nagle on a peer stalls whole RTTs).
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock: Any) -> None:
        loop = asyncio.get_running_loop()
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await line.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
            writer.close()

        sender = asyncio.ensure_future(forward())
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                quickack(sock)
                line.put_nowait((loop.time() + one_way, data))
        line.put_nowait((loop.time() + one_way, b""))
        with contextlib.suppress(OSError):
            await sender

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            pipe(reader, upstream_writer, writer.get_extra_info("socket")),
            pipe(upstream_reader, writer, upstream_writer.get_extra_info("socket")),
            return_exceptions=True,
        )

    async def serve() -> None:
        server = await asyncio.start_server(connected, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


@contextlib.contextmanager
def rtt_proxy(host: str, port: int, one_way: float) -> Iterator[int]:
    """`serve_proxy` in a child process; its port."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-proxy", f"{host}:{port}:{one_way}"],
        stdout=subprocess.PIPE,
        cwd=BASE_DIR,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        require(line.strip().isdigit(), "the RTT proxy did not start")
        yield int(line)
    finally:
        proc.terminate()
        proc.wait(10)


# --- 3. Herald end to end ------------------------------------------------------------------------


def seed(count: int, host: str, port: int, *, receipts: bool = True) -> tuple[Any, str]:
    """A Ugandan tenant (bench/common.py) whose route goes through an smpp connector (one trx bind,
    window 50, tps 100,000) to the simulator, and a list of `count` contacts. (client, list id)."""
    from common import list_of_bench_contacts, ugandan_tenant
    from django.db import connection

    from broadcasts.services import connector_create
    from wallets.models import Route

    client = ugandan_tenant(send_rate_limit="1000000/m")
    connector_create(
        name=CONNECTOR, channel="sms", backend="smpp", tps=100_000,
        config={"host": host, "port": port, "system_id": "herald", "window": WINDOW, "binds": 1, "bind": "trx",
                "registered_delivery": int(receipts)},
    )  # fmt: skip
    Route.objects.filter(route_code="ESMS_UG").update(connector=CONNECTOR)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_contact (client_id, phone, first_name, last_name, language, fields)
            SELECT %s, '+25677' || lpad(i::text, 6, '0') || '1', 'Name' || (i %% 300), 'Bench', 'eng', '{}'
              FROM generate_series(0, %s - 1) AS i
            """,
            [client.pk, count],
        )
        list_id = list_of_bench_contacts(cursor, client.pk, count)
    return client, str(list_id)


def until_counted(broadcast_id: Any, status: str, count: int, timeout: float, every: float, also: Any = None) -> None:
    """Wait until `count` of the broadcast's messages are in `status` by Herald's own counters
    (broadcasts/counters.py: committed with each status change; ~170 rows to add up, 0.3 ms), at
    most `timeout`; `also()` runs between reads. Counting the messages themselves instead (5–7 ms
    for 20,000, every 100 ms in the deployed run) took 5–7 % of a core from the run it measured.
    Callers confirm with an exact count."""
    from broadcasts.counters import counts_for

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = counts_for(broadcast_ids=[broadcast_id])[broadcast_id]
        if getattr(counts, status) >= count:
            return
        time.sleep(every)
        if also is not None:
            also()


def end_to_end(
    client: Any, list_id: str, count: int, timeout: float, final: str = "delivered"
) -> tuple[float, float, dict[str, int]]:
    """Create the broadcast and wait until every message is delivered: (seconds until the dispatch
    returned, seconds until every message was delivered, status counts)."""
    from django.db.models import Count

    from broadcasts.models import Message
    from broadcasts.services import broadcast_create
    from broadcasts.status_updates import early_reports_sweep

    started = time.perf_counter()
    # Celery eager (test settings): preparation and dispatch run inside this call, in this process.
    accepted = broadcast_create(
        client=client, data={"name": "Bench", "contact_lists": [list_id], "text": TEXT, "sender": "Herald"}
    )
    dispatched = time.perf_counter() - started
    swept = [time.monotonic()]

    def sweep() -> None:  # beat's tick applies receipts that raced their record (every 10 s there)
        if time.monotonic() - swept[0] >= 0.5:
            early_reports_sweep()
            swept[0] = time.monotonic()

    until_counted(accepted.broadcast.pk, final, count, timeout, 0.02, sweep)
    finished = time.perf_counter() - started
    rows = Message.objects.filter(broadcast__client=client).values("status").annotate(n=Count("id"))
    return dispatched, finished, {row["status"]: row["n"] for row in rows}


def message_table() -> dict[str, str]:
    """The message table after the end-to-end run (a diagnostic): its heap's size and how many of
    its row updates were HOT (no index entry written: docs/broadcasts.md, "Indexes"). Read after
    the run's connections closed, so every backend has reported its counts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # this connection's own counts
        for _ in range(20):  # another connection's backend reports as it exits: wait for it
            cursor.execute(
                "SELECT pg_relation_size('broadcasts_message'), n_tup_upd, n_tup_hot_upd"
                "  FROM pg_stat_user_tables WHERE relname = 'broadcasts_message'"
            )
            heap, updates, hot = cursor.fetchone()
            if updates:
                break
            time.sleep(0.1)
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'broadcasts_message'")
        (options,) = cursor.fetchone()
    return {
        "heap_kb": f"{heap // 1024:,}",
        "updates": f"{updates:,}",
        "hot_updates": f"{hot:,}",
        "hot_share": f"{hot / max(updates, 1):.2f}",
        "reloptions": ",".join(options or []) or "-",
    }


def deployed_end_to_end(host: str, port: int, count: int, timeout: float) -> None:
    """--deployed (a child process of the bench: Django is set up with other settings here): Herald
    as `make run` deploys it with an smpp connector (scripts/run.py's dedicated mode, SMPP_QUEUE on):
    production settings, a Redis broker, one worker for the default queue (the preparation runs
    there, alongside dispatch) and the one-process smpp worker holding the bind (dispatch and
    receipts). From the create call until every message is `delivered`; prints one report line."""
    from bench_dispatch import BIN, Stack, wait_until

    with Stack("smpp") as stack:
        stack.env["SMPP_QUEUE"] = "1"
        stack.django()
        from django.db import connection

        from broadcasts.services import broadcast_create
        from config.celery import app

        client, list_id = seed(count, host, port)
        command = [str(BIN / "celery"), "-A", "config", "worker", "-l", "info", "--concurrency", "1"]
        stack.start("worker", [*command, "-Q", "celery", "-n", "bench@%h"])
        stack.start("smpp-worker", [*command, "-Q", "smpp", "-n", "smpp@%h"])
        wait_until(lambda: len(app.control.ping(timeout=0.5)) >= 2, 120, "the Celery workers", 0.5)
        started = time.perf_counter()
        accepted = broadcast_create(
            client=client, data={"name": "Bench", "contact_lists": [list_id], "text": TEXT, "sender": "Herald"}
        )
        created = time.perf_counter() - started

        def delivered() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM broadcasts_message WHERE broadcast_id = %s AND status = 'delivered'",
                    [accepted.broadcast.pk],
                )
                return int(cursor.fetchone()[0])

        until_counted(accepted.broadcast.pk, "delivered", count, timeout, 0.05)
        seconds = time.perf_counter() - started
        done = delivered()
        require(done == count, f"deployed end to end: {done} of {count} delivered:\n{stack.log_tail('smpp-worker')}")
        # Dispatch on the smpp worker, which holds the bind: a default-queue worker that sent any of
        # it would open binds of its own (once per prefork child in production).
        dispatched_by = {
            name: (stack.tmp / f"{name}.log").read_text(errors="replace").count('"broadcast.batch"')
            for name in ("worker", "smpp-worker")
        }
        require(
            dispatched_by["worker"] == 0 and dispatched_by["smpp-worker"] > 0,
            f"deployed: batches sent per worker {dispatched_by}, all expected on the smpp worker",
        )
        report("smpp_herald_deployed", messages=count, seconds=f"{seconds:.3f}", create_s=f"{created:.2f}",
               preparing=accepted.broadcast.preparing, delivered_per_s=f"{count / seconds:,.0f}")  # fmt: skip


def deployed(smsc: Any, count: int, timeout: float) -> float:
    """Run `--deployed` in a child process against `smsc`; its messages/s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "HERALD_TEST"))}
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--deployed", f"{smsc.host}:{smsc.port}:{count}",
         "--timeout", str(timeout)],
        capture_output=True, text=True, cwd=BASE_DIR, env=env, check=False, timeout=timeout + 180,
    )  # fmt: skip
    line = next((x for x in child.stdout.splitlines() if x.startswith("smpp_herald_deployed:")), None)
    require(
        child.returncode == 0 and line, f"deployed end to end failed:\n{child.stdout[-3000:]}{child.stderr[-3000:]}"
    )
    assert line is not None  # for mypy: require() exits otherwise
    print(line, flush=True)
    stats = smsc.stats()
    require(stats["submits"] == count, f"deployed: the simulator saw {stats['submits']} submits for {count}")
    return float(line.split("delivered_per_s=")[1].split()[0].replace(",", ""))


class Phases:
    """--profile: wall time spent in the dispatcher's phases and the receipts' store, whatever the
    thread (cProfile sees only the thread it runs in), by wrapping the module attributes the
    dispatcher and the bind call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                    self.calls[name] = self.calls.get(name, 0) + 1

        setattr(owner, attribute, timed)

    def install(self) -> None:
        from concurrent.futures import Future

        from broadcasts import claims, dispatch, sending
        from broadcasts.smpp import store

        self.wrap(dispatch, "claim_batch", "claim (claims.claim_batch)")
        self.wrap(sending, "reserve_slots", "pacing (pacing.reserve_slots)")
        self.wrap(sending, "hand", "hand (claims.hand)")
        self.wrap(sending, "record_results", "record (recording.record_results)")
        self.wrap(sending, "give_back", "give back (claims.give_back)")
        self.wrap(store.Store, "delivers_store", "receipts stored (smpp store, bind threads)")
        self.wrap(store, "messages_apply_status", "  of which messages_apply_status")
        from django.db.backends.base.base import BaseDatabaseWrapper

        self.wrap(store, "receipts_apply", "  of which receipts_apply (lock, parts, apply)")
        self.wrap(BaseDatabaseWrapper, "connect", "database connections opened (any thread)")
        self.wrap(Future, "result", "waiting for the SMSC's answers (Future.result)")
        del claims

    def print(self, total: float) -> None:
        print(f"smpp_profile: wall {total:.2f} s; per phase (seconds, calls, share of the wall time):")
        for name, seconds in sorted(self.seconds.items(), key=lambda item: -item[1]):
            print(f"  {name:<50} {seconds:7.2f} s  {self.calls[name]:6d}  {seconds / total:5.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, help="messages for the loopback figures (20,000; 1,500 quick)")
    parser.add_argument("--profile", action="store_true", help="cProfile the end-to-end step (top functions)")
    parser.add_argument(
        "--dlr-delay-ms", type=int, default=200, help="the simulator's receipt delay (200, as in the SMPP notes' A.5)"
    )
    parser.add_argument(
        "--accepted-only",
        action="store_true",
        help="a diagnostic: the connector asks for no receipts (registered_delivery 0); end to end = all sent",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on the end-to-end step after this")
    parser.add_argument("--serve-proxy", metavar="HOST:PORT:ONE_WAY", help=argparse.SUPPRESS)
    parser.add_argument("--deployed", metavar="HOST:PORT:COUNT", help=argparse.SUPPRESS)
    quick_option(parser)
    args = parser.parse_args()
    if args.deployed:
        host, port, count = args.deployed.split(":")
        deployed_end_to_end(host, int(port), int(count), args.timeout)
        return
    if args.serve_proxy:
        host, port, one_way = args.serve_proxy.split(":")
        with contextlib.suppress(KeyboardInterrupt):
            serve_proxy(host, int(port), float(one_way))
        return
    size = SIZES["quick" if args.quick else "full"]
    n = args.messages or int(os.environ.get("BENCH_SMPP_MESSAGES", size["messages"]))
    verdict = Verdict("smpp", quick=args.quick)
    os.chdir(BASE_DIR)
    from tests.smsc import Smsc

    with Smsc.start(DLR_DELAY_MS=args.dlr_delay_ms) as smsc, bench_database():
        import broadcasts.smpp.store  # noqa: F401 - registers the receipts' store, as the worker does
        from broadcasts.smpp.connector import close_pools

        def window_held(what: str, window: int) -> None:
            peak = smsc.stats()["max_unanswered"]
            verdict.possible(peak <= window, f"{what}: the simulator saw {peak} unanswered on a bind (window {window})")

        # 1. raw smpplib
        smsc.reset()
        raw_s, raw_ok, raw_receipts = raw_smpplib(smsc.host, smsc.port, n, WINDOW)
        raw_s = verdict.seconds(raw_s, "raw smpplib")
        require(raw_ok == n and raw_receipts == n, f"raw smpplib: {raw_ok} accepted, {raw_receipts} receipts of {n}")
        window_held("raw smpplib", WINDOW)
        raw_rate = n / raw_s
        report("smpp_raw_smpplib", window=WINDOW, messages=n, seconds=f"{raw_s:.2f}", submit_per_s=f"{raw_rate:,.0f}",
               receipts=raw_receipts)  # fmt: skip

        # 2. Herald's session alone
        smsc.reset()
        sess_s, sess_ok, sess_receipts = session_alone(smsc.host, smsc.port, n, WINDOW)
        sess_s = verdict.seconds(sess_s, "Herald session")
        require(
            sess_ok == n and sess_receipts == n, f"Herald session: {sess_ok} accepted, {sess_receipts} receipts of {n}"
        )
        window_held("Herald session", WINDOW)
        sess_rate = n / sess_s
        report("smpp_herald_session", window=WINDOW, messages=n, seconds=f"{sess_s:.2f}",
               submit_per_s=f"{sess_rate:,.0f}", ratio_to_raw=f"{sess_rate / raw_rate:.2f}")  # fmt: skip

        # 3. Herald end to end
        smsc.reset()
        final = "sent" if args.accepted_only else "delivered"
        client, list_id = seed(n, smsc.host, smsc.port, receipts=not args.accepted_only)
        profiler = cProfile.Profile() if args.profile else None
        phases = Phases()
        if profiler:
            phases.install()
            profiler.enable()
        sent_s, e2e_s, found = end_to_end(client, list_id, n, args.timeout, final)
        if profiler:
            profiler.disable()
        close_pools()
        report("smpp_message_table", **message_table())
        stats = smsc.stats()
        require(found.get(final, 0) == n, f"Herald end to end: statuses {found}, {n} {final} expected")
        require(stats["submits"] == n, f"Herald end to end: the simulator saw {stats['submits']} submits for {n}")
        window_held("Herald end to end", WINDOW)
        e2e_s = verdict.seconds(e2e_s, "Herald end to end")
        e2e_rate = n / e2e_s
        ratio = e2e_rate / raw_rate
        name = "smpp_herald_accepted_only" if args.accepted_only else "smpp_herald_end_to_end"
        report(name, window=WINDOW, binds=1, messages=n, seconds=f"{e2e_s:.2f}",
               **{f"{final}_per_s": f"{e2e_rate:,.0f}"}, dispatch_returned_s=f"{sent_s:.2f}", target=">=4,000",
               met=e2e_rate >= 4000, ratio_to_raw=f"{ratio:.2f}", ratio_target=">=0.5",
               ratio_met=ratio >= 0.5)  # fmt: skip
        if not args.accepted_only:  # a diagnostic, not the figure
            verdict.target(e2e_rate >= 4000, f"end to end {e2e_rate:,.0f} messages/s < 4,000")
            verdict.target(ratio >= 0.5, f"end to end {ratio:.2f}x the raw smpplib client < 0.5x")
        if profiler:
            phases.print(e2e_s)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())

        # 3b. The same broadcast as deployed (real workers), in a child process: other settings.
        if not args.accepted_only and not args.profile:
            smsc.reset()
            deployed_rate = deployed(smsc, n, args.timeout)
            window_held("Herald deployed", WINDOW)
            deployed_ratio = deployed_rate / raw_rate
            report("smpp_herald_deployed_vs_raw", delivered_per_s=f"{deployed_rate:,.0f}", target=">=4,000",
                   met=deployed_rate >= 4000, ratio_to_raw=f"{deployed_ratio:.2f}", ratio_target=">=0.5",
                   ratio_met=deployed_ratio >= 0.5)  # fmt: skip
            verdict.target(deployed_rate >= 4000, f"deployed end to end {deployed_rate:,.0f} messages/s < 4,000")
            verdict.target(deployed_ratio >= 0.5, f"deployed end to end {deployed_ratio:.2f}x the raw client < 0.5x")

        # 4. behind a 50 ms RTT proxy
        with rtt_proxy(smsc.host, smsc.port, RTT / 2) as proxy_port:
            for window, count in size["proxy"].items():
                smsc.reset()
                p_s, p_ok, p_receipts = session_alone("127.0.0.1", proxy_port, count, window)
                p_s = verdict.seconds(p_s, f"proxy window {window}")
                require(p_ok == count, f"proxy window {window}: {p_ok} of {count} accepted")
                window_held(f"proxy window {window}", window)
                rate = count / p_s
                ideal = window / RTT
                report(f"smpp_rtt50ms_window{window}", messages=count, seconds=f"{p_s:.2f}",
                       msg_per_s=f"{rate:,.0f}", window_over_rtt=f"{ideal:,.0f}", ratio=f"{rate / ideal:.2f}",
                       target=">=0.9", met=rate >= 0.9 * ideal, receipts=p_receipts)  # fmt: skip
                smsc.reset()
                r_s, r_ok, _ = raw_smpplib("127.0.0.1", proxy_port, count, window)
                r_s = verdict.seconds(r_s, f"raw smpplib behind the proxy, window {window}")
                require(r_ok == count, f"raw smpplib behind the proxy, window {window}: {r_ok} of {count} accepted")
                window_held(f"raw smpplib behind the proxy, window {window}", window)
                report(f"smpp_rtt50ms_window{window}_raw_smpplib", messages=count, seconds=f"{r_s:.2f}",
                       msg_per_s=f"{count / r_s:,.0f}", ratio=f"{count / r_s / ideal:.2f}")  # fmt: skip
                verdict.possible(rate <= 1.05 * ideal, f"window {window} at 50 ms RTT: {rate:,.0f}/s > window/RTT")
                verdict.target(rate >= 0.9 * ideal, f"window {window} at 50 ms RTT: {rate / ideal:.2f} x W/RTT < 0.9")
    verdict.done()


if __name__ == "__main__":
    main()
