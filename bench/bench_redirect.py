"""The short-link redirect `/r/{code}` with its click recorded, beside a bare Django 302, in one run (issue 11).

One gunicorn, started as `scripts/run.py` starts it (`config.wsgi`, 2 workers × 4 threads, access
log on) with the production settings (`DEBUG` off) plus bench-only routes (bench/redirect_settings.py,
bench/redirect_urls.py): `/bare/`, a Django view answering 302 and nothing else, through the same
middleware as every page (the yardstick); and three diagnostics, which are ordinary routes behind
the whole middleware stack (`/r/` itself is answered by tracking.middleware.ShortLinkMiddleware,
right after SecurityMiddleware): `/durable/{code}`, the redirect's own statement
with the commit waiting for its WAL flush (what `synchronous_commit off` saves); `/lookup/{code}`,
the stored URL read and nothing written (the floor of any design that asks PostgreSQL); `/redis/{code}`,
the click buffered in Redis instead (one pipelined round trip: the cached URL and an RPUSH), the
alternative the issue names. The database is fresh (DATABASE_URL's
server, else the embedded PostgreSQL), with 10,000 codes of one link written by `links_write`.

Throughput: `wrk` (Debian's package) on loopback, each target for `--seconds` with `--connections`
keep-alive connections, targets interleaved over `--rounds` rounds (best round each), every `/r/`
request a random code. Latency: this bench's own fixed-rate generator (wrk2 is not in Debian): 300
requests/s for `--seconds` on `/r/`, each latency measured from the moment its request was due (no
coordinated omission), p50/p99/max. Afterwards the bench checks that every `/r/` answer was a 302
and that the clicks table holds a row for each.

Targets: `/r/` ≥ 0.6 × the bare view's requests/s; p99 ≤ 25 ms at 300 requests/s. The bench exits
non-zero when wrk is missing (`apt-get install wrk`; .ci/run installs it) or fails, when an answer
was not a 302 or a click was not recorded, when a figure is impossible (no request counted), and
in a full run below either target. `--quick` (CI): 1,000 codes, two rounds of 1 s per target, 100
requests/s for the latency, the targets not enforced.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_redirect.py
    .venv/bin/python bench/bench_redirect.py --conn-max-age 60     # persistent DB connections (CONN_MAX_AGE)
    .venv/bin/python bench/bench_redirect.py --quick               # CI's size
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from bench_dispatch import BIN, Stack, manage
from common import Verdict, fail, quick_option, report

URL = "https://shop.example.com/sale?utm=sms"
TARGET_RATIO = 0.6
TARGET_P99_MS = 25.0
# --quick: (seconds, rounds, codes, rate) small enough for CI.
QUICK = {"seconds": 1, "rounds": 2, "codes": 1_000, "rate": 100}
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def seed(codes: int) -> list[str]:
    from django.db import transaction

    from tracking.rewrite import new_code
    from tracking.services import links_write

    client_id = manage("createclient", "Bench", "--currency", "USD", "--balance", "0", "--country", "UG")
    items = [(10**6 + i, URL, new_code()) for i in range(codes)]
    with transaction.atomic():
        written = links_write(client_id=client_id, broadcast_id=uuid.uuid4(), items=items)
    return written


def start_web(stack: Stack, conn_max_age: int) -> int:
    stack.env["CONN_MAX_AGE"] = str(conn_max_age)
    port = stack.web_port
    command = [
        str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
        "--timeout", "300", "--access-logfile", "-", "--graceful-timeout", "10",
    ]  # fmt: skip
    stack.start(f"web-{conn_max_age}", command)
    stack.wait_serving(f"web-{conn_max_age}", port, 30, marker=f"Listening at: http://127.0.0.1:{port}")
    return port


def stop_web(stack: Stack) -> None:
    import os
    import signal

    name, proc = stack.processes.pop()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    stack.processes.append((name, proc))  # __exit__ finds it stopped


def wrk_script(tmp: Path, codes: list[str], prefix: str) -> Path:
    script = tmp / f"wrk-{prefix.strip('/')}.lua"
    table = ",".join(f'"{c}"' for c in codes)
    script.write_text(
        f"local codes = {{{table}}}\n"
        f'wrk.headers["User-Agent"] = "{AGENT}"\n'
        "request = function()\n"
        f'  return wrk.format("GET", "{prefix}" .. codes[math.random(#codes)])\n'
        "end\n"
    )
    return script


def wrk(url: str, *, seconds: int, connections: int, script: Path | None = None) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx/3xx answers) of one wrk run."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"User-Agent: {AGENT}"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    if done.returncode != 0 or rate is None or total is None:
        fail(f"wrk {url} exited {done.returncode}: {(done.stdout + done.stderr).strip()[-500:]}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return float(rate.group(1)), int(total.group(1)), int(bad.group(1)) if bad else 0


async def fixed_rate(port: int, codes: list[str], *, rate: int, seconds: int, pool: int = 32) -> list[float]:
    """Latencies (s) of `rate` × `seconds` GETs of random codes sent at a fixed rate over up to
    `pool` keep-alive connections, each measured from the moment it was due."""
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(pool):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: list[bytes] = []

    async def one(due: float, code: str) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await idle.get()
        writer.write(f"GET /r/{code} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {AGENT}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if length and int(length.group(1)):
            await reader.readexactly(int(length.group(1)))
        latencies.append(time.perf_counter() - due)
        statuses.append(head[9:12])
        if b"connection: close" in head.lower():
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        idle.put_nowait((reader, writer))

    start = time.perf_counter() + 0.2
    count = rate * seconds
    await asyncio.gather(*(one(start + i / rate, random.choice(codes)) for i in range(count)))
    while not idle.empty():
        idle.get_nowait()[1].close()
    if set(statuses) != {b"302"}:
        fail(f"/r/ answered {sorted(set(statuses))}, not only 302")
    return latencies


DIAGNOSTICS = ("durable", "lookup", "redis")


def buffered_in_redis() -> int:
    import redis
    from django.conf import settings

    return int(redis.Redis.from_url(settings.REDIS_URL).llen("trk:clicks"))


def clicks_recorded() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_click")
        return int(cursor.fetchone()[0])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, help="per wrk run and for the latency (10; quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds of every target, best kept (3; quick 2)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--codes", type=int, help="short links written (10,000; quick 1,000)")
    parser.add_argument("--rate", type=int, help="requests/s of the latency run (300; quick 100)")
    parser.add_argument("--conn-max-age", type=int, action="append", help="CONN_MAX_AGE of gunicorn (repeatable)")
    quick_option(parser)
    args = parser.parse_args()
    sizes = QUICK if args.quick else {"seconds": 10, "rounds": 3, "codes": 10_000, "rate": 300}
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    verdict = Verdict("redirect", quick=args.quick)
    if shutil.which("wrk") is None:
        fail("wrk is not on PATH: apt-get install wrk (.ci/run installs it)")
    with Stack("redirect") as stack:
        stack.env["DJANGO_SETTINGS_MODULE"] = "bench.redirect_settings"
        stack.django()
        codes = seed(args.codes)
        scripts = {name: wrk_script(stack.tmp, codes, f"/{name}/") for name in ("r", *DIAGNOSTICS)}
        for conn_max_age in args.conn_max_age or [60]:  # the production default (config/env.py)
            port = start_web(stack, conn_max_age)
            base = f"http://127.0.0.1:{port}"
            warm = min(2, args.seconds)
            wrk(f"{base}/bare/", seconds=warm, connections=args.connections)  # warm every worker up
            wrk(base, seconds=warm, connections=args.connections, script=scripts["r"])
            best: dict[str, float] = dict.fromkeys(("bare", "r", *DIAGNOSTICS), 0.0)
            sent_r = 0
            before = clicks_recorded()
            for _ in range(args.rounds):
                for target in ("bare", "r", *DIAGNOSTICS):
                    script = scripts.get(target)
                    url = f"{base}/bare/" if target == "bare" else base
                    rate, total, bad = wrk(url, seconds=args.seconds, connections=args.connections, script=script)
                    if bad:
                        fail(f"{target}: {bad} answers were not 2xx/3xx")
                    verdict.possible(total > 0 and rate > 0, f"wrk counted no request to {target}")
                    best[target] = max(best[target], rate)
                    sent_r += total if target in ("r", "durable", "redis") else 0
            recorded = clicks_recorded() - before + buffered_in_redis()
            latencies = asyncio.run(fixed_rate(port, codes, rate=args.rate, seconds=args.seconds))
            stop_web(stack)
            if not best["bare"] or not best["r"]:
                fail(f"no request counted (bare {best['bare']}/s, /r/ {best['r']}/s): no ratio")
            ratio = best["r"] / best["bare"]
            p99_ms = percentile(latencies, 0.99) * 1000
            report(
                f"redirect (CONN_MAX_AGE={conn_max_age})",
                mode=verdict.mode,
                bare_rps=round(best["bare"]),
                r_rps=round(best["r"]),
                ratio=round(ratio, 2),
                ratio_target=f">={TARGET_RATIO}",
                **{f"{name}_ratio": round(best[name] / best["bare"], 2) for name in DIAGNOSTICS},
                clicks_recorded=recorded,
                r_requests_counted_by_wrk=sent_r,
            )
            report(
                f"redirect at {args.rate} req/s (CONN_MAX_AGE={conn_max_age})",
                mode=verdict.mode,
                requests=len(latencies),
                p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
                p99_ms=round(p99_ms, 2),
                p99_target=f"<={TARGET_P99_MS:g}",
                max_ms=round(max(latencies) * 1000, 2),
            )
            if recorded < sent_r:
                fail(f"{sent_r - recorded} clicks answered but not recorded")
            verdict.possible(
                len(latencies) == args.rate * args.seconds,
                f"{len(latencies)} latencies for {args.rate * args.seconds} requests",
            )
            verdict.target(
                ratio >= TARGET_RATIO,
                f"CONN_MAX_AGE={conn_max_age}: /r/ at {ratio:.2f}x the bare 302 < {TARGET_RATIO}x",
            )
            verdict.target(
                p99_ms <= TARGET_P99_MS,
                f"CONN_MAX_AGE={conn_max_age}: p99 {p99_ms:.1f} ms at {args.rate} req/s > {TARGET_P99_MS:g} ms",
            )
    verdict.done()


if __name__ == "__main__":
    main()
