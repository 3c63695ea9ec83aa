"""The Makefile's own behaviour, as a new user's shell meets it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_interpreter_probe_is_quiet_about_pythons_that_are_not_there(tmp_path):
    """pyenv puts shims for every version on PATH; one without that version installed prints
    `pyenv: python3.13: command not found` when run. The probe must skip it silently."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.13", "python3.12"):
        shim = shims / name
        shim.write_text(f"#!/bin/sh\necho 'pyenv: {name}: command not found' >&2\nexit 127\n")
        shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHON", None)
    # --always-make: the recipe, and with it the probe, is expanded even when .venv is up to date.
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "setup"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "command not found" not in result.stderr, result.stderr
    assert "python3.13" not in result.stdout + result.stderr
    assert "Herald needs Python 3.11" in result.stdout  # the probe's answer is in the printed recipe
