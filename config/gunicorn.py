"""gunicorn's settings file for every launcher of Herald's web process (`gunicorn -c config/gunicorn.py`:
scripts/run.py, the Dockerfile). Command-line flags still set the rest.

A worker that exits (restarted, killed) is marked dead for Prometheus' multiprocess mode, so its live
gauges stop counting in /metrics (accounts/metrics.py); its counters stay in the sum, as they should.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
