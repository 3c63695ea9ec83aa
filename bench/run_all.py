"""`make bench`: runs every bench/bench_*.py in its own process and prints their figures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Benchmarks that start a stack of their own (a Redis broker, Celery workers or gunicorn, a provider).
NEEDS = {
    "bench_dispatch.py": "redis-server",
    "bench_first_message.py": "redis-server",
    "bench_reports.py": "redis-server",
}


def main() -> int:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if not scripts:
        print("no benchmarks yet")
        return 0
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if NEEDS.get(script.name) and shutil.which(NEEDS[script.name]) is None:
            print(f"skipped: needs {NEEDS[script.name]} on PATH", flush=True)
            continue
        result = subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=BENCH_DIR.parent)
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
