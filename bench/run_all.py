"""`make bench`: runs every bench/bench_*.py in its own process and prints their figures.

    .venv/bin/python bench/run_all.py                  # every bench at full size, targets enforced
    .venv/bin/python bench/run_all.py --quick          # every bench at a small size (CI: .ci/run)
    .venv/bin/python bench/run_all.py --quick dispatch reports   # some of them (names without bench_)

`--quick` is passed to every bench: a small size, where a bench checks only that its work was done
and its figures are possible (a broken bench fails), not its targets. Exits non-zero when any bench
does, or when one needs a program that is not on PATH: a bench that cannot run is a failure, never
a skip, so that nothing rots unnoticed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Programs a bench starts for a stack of its own (a Redis broker, a load generator).
NEEDS = {
    "bench_compat.py": ["redis-server"],
    "bench_dispatch.py": ["redis-server"],
    "bench_first_message.py": ["redis-server"],
    "bench_metrics.py": [],  # no server of its own: bench_dispatch's provider, in Python (< 30 s with --quick)
    "bench_redirect.py": ["redis-server", "wrk"],
    "bench_reports.py": ["redis-server"],
    "bench_smpp.py": ["node"],  # the test SMSC (tests/smsc, `npm ci --prefix tests/smsc`)
    "bench_webhooks.py": ["redis-server"],
}
# A bench still running after this long is stuck: stopped (SIGTERM: it drops its database and stops
# its processes) and counted as failed.
TIMEOUT_S = {"quick": 300, "full": 1800}


def run(script: Path, quick: bool) -> tuple[bool, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script), *(["--quick"] if quick else [])], cwd=BENCH_DIR.parent)
    limit = TIMEOUT_S["quick" if quick else "full"]
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        print(f"{script.name}: still running after {limit} s, stopped", file=sys.stderr, flush=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        code = -1
    return code == 0, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every bench at a small size, targets not enforced")
    parser.add_argument("names", nargs="*", help="only these benches (e.g. dispatch for bench_dispatch.py)")
    args = parser.parse_args()
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.names:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in args.names}
        unknown = wanted - {script.stem.removeprefix("bench_") for script in scripts}
        if unknown:
            print(f"no such bench: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scripts = [script for script in scripts if script.stem.removeprefix("bench_") in wanted]
    if not scripts:
        print("no benchmarks yet")
        return 0
    failed = []
    total = time.perf_counter()
    for script in scripts:
        print(f"== {script.name}{' --quick' if args.quick else ''}", flush=True)
        missing = [program for program in NEEDS.get(script.name, []) if shutil.which(program) is None]
        if missing:
            print(f"{script.name}: FAILED: needs {', '.join(missing)} on PATH (apt-get install {' '.join(missing)})")
            failed.append(script.name)
            continue
        ok, seconds = run(script, args.quick)
        print(f"== {script.name}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s", flush=True)
        if not ok:
            failed.append(script.name)
    print(f"== {len(scripts) - len(failed)} of {len(scripts)} benches ok in {time.perf_counter() - total:.0f} s")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
