"""Where `make run` sends its processes' output: all of it to var/log/<process>.log, and to the
console only what is at HERALD_CONSOLE_LOG_LEVEL (default warning) or above.

Each child's stdout and stderr are read line by line. A line that starts a log record says its level
(structlog's console or JSON lines, gunicorn's own lines, Celery's format); a line that does not is
the continuation of the record before it when it is indented or blank (a traceback's frames), and
otherwise something a process printed on its own: shown when it came on stderr (a Python warning,
an uncaught traceback, a usage error), kept for the file when it came on stdout (Celery's start-up
banners, gunicorn's access log). So the console keeps warnings and errors, and the routine lines (a
task received and succeeded every 2 s, each HTTP request) are only in the files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

# structlog's ConsoleRenderer: `2026-03-02T12:00:00.000000Z [info     ] event   [logger] k=v`
_STRUCTLOG = re.compile(r"^\S+ \[(?P<level>[a-z]+)\s*\]")
# gunicorn's error log: `[2026-03-02 12:00:00 +0000] [123] [INFO] Booting worker with pid: 124`
_GUNICORN = re.compile(r"^\[[^\]]+\] \[\d+\] \[(?P<level>[A-Z]+)\]")
# Celery's own format (when it owns logging): `[2026-03-02 12:00:00,000: INFO/MainProcess] ...`
_CELERY = re.compile(r"^\[[^\]]+: (?P<level>[A-Z]+)/[^\]]+\]")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}

_console_lock = threading.Lock()


def level_number(name: str) -> int:
    """`warning`, `INFO`, `20`... as a logging level; ValueError for anything else."""
    text = name.strip().lower()
    if text.isdigit():
        return int(text)
    if text not in _LEVELS:
        raise ValueError(f"not a log level: {name!r} (debug, info, warning, error or critical)")
    return _LEVELS[text]


def record_level(line: str) -> int | None:
    """The level of the log record this line starts, or None when it starts none."""
    for pattern in (_STRUCTLOG, _GUNICORN, _CELERY):
        found = pattern.match(line)
        if found and found["level"].lower() in _LEVELS:
            return _LEVELS[found["level"].lower()]
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return None
        level = record.get("level") if isinstance(record, dict) else None
        if isinstance(level, str) and level.lower() in _LEVELS:
            return _LEVELS[level.lower()]
    return None


class LineFilter:
    """Decides, line by line, whether one output stream's line goes to the console too."""

    def __init__(self, console_level: int, stderr: bool) -> None:
        self.console_level = console_level
        self.stderr = stderr
        self.showing = False  # whether the record being continued was shown

    def shows(self, line: str) -> bool:
        level = record_level(line)
        if level is not None:
            self.showing = level >= self.console_level
        elif not line.strip() or line[:1].isspace():
            pass  # a continuation (a traceback's frame, a wrapped message): as its record
        else:
            self.showing = self.stderr
        return self.showing


def console(line: str) -> None:
    """One line on the console, never interleaved with another thread's; a console gone (its
    terminal closed) is no reason to stop writing the files, or stopping the processes."""
    with _console_lock, contextlib.suppress(OSError, ValueError):
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()


class ProcessLog:
    """The log file of one process (appended, across restarts) and its console prefix."""

    def __init__(self, name: str, path: Path, console_level: int, width: int = 8) -> None:
        self.name = name
        self.path = path
        self.console_level = console_level
        self.prefix = f"{name:<{width}} | "
        self._lock = threading.Lock()
        self.watchers: list[Callable[[str], None]] = []

    def follow(self, stream: IO[bytes], stderr: bool) -> threading.Thread:
        """Copy `stream` (a child's stdout or stderr) to the file, and its notable lines to the console,
        in a thread of its own that ends with the stream."""
        thread = threading.Thread(target=self._copy, args=(stream, stderr), daemon=True, name=f"log-{self.name}")
        thread.start()
        return thread

    def _copy(self, stream: IO[bytes], stderr: bool) -> None:
        line_filter = LineFilter(self.console_level, stderr)
        with stream, self.path.open("a", encoding="utf-8", errors="replace") as out:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._lock:
                    out.write(line + "\n")
                    out.flush()
                if line_filter.shows(line):
                    console(self.prefix + line)
                for watcher in self.watchers:
                    watcher(line)
