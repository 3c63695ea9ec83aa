"""`make test` leaves nothing running that it started (issue 18).

Without DATABASE_URL the test settings start the embedded PostgreSQL on first use (config.env), as
`make run` does; the suite must stop it when it ends, as `make run`'s Ctrl-C does, and must leave
alone a server it found already running (a `make run` in another terminal, say).

Runs the suite's entry point (pytest, as `make test` does) in a subprocess on one database test,
with a var/ directory of its own, and then looks for any process serving that var/pgdata.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from config.embedded import start_embedded_postgres, stop_embedded_postgres
from tests.test_make_run import tmp_path  # noqa: F401 - the fixture: a directory the embedded server's user can reach

BASE_DIR = Path(__file__).resolve().parent.parent
ONE_DATABASE_TEST = "tests/accounts/test_authentication.py::test_me_names_the_client_key_and_scopes"

pytestmark = pytest.mark.slow


def serving(pgdata: Path) -> list[psutil.Process]:
    """Every live process whose command line names this data directory (the postmaster)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and str(pgdata) in " ".join(cmdline):
            found.append(process)
    return found


def run_suite(var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
    }
    env["HERALD_VAR_DIR"] = str(var_dir)
    env["HERALD_TEST_TAG"] = "make_test_probe"  # a test database name of its own
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ONE_DATABASE_TEST],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_suite_stops_the_embedded_postgres_it_started(tmp_path):  # noqa: F811
    var_dir = tmp_path / "var"
    pgdata = (var_dir / "pgdata").resolve()

    result = run_suite(var_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]
    assert (pgdata / "PG_VERSION").exists(), "the suite did not start the embedded PostgreSQL at all"
    assert serving(pgdata) == [], "the suite left its embedded PostgreSQL running"
    assert not (pgdata / "postmaster.pid").exists()

    # A server the suite found running is someone else's: it is still up afterwards.
    start_embedded_postgres(var_dir)
    try:
        assert serving(pgdata), "could not start the embedded PostgreSQL for the second half"
        result = run_suite(var_dir)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert serving(pgdata), "the suite stopped an embedded PostgreSQL it had not started"
    finally:
        stop_embedded_postgres(var_dir)
    assert serving(pgdata) == []
