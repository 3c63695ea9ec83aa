"""Fake provider servers that speak each backend's wire format, for the connector tests."""

import contextlib
import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeServer(ThreadingHTTPServer):
    """A threaded HTTP server for fakes: a batch opens dozens of connections at once, and the
    standard backlog of 5 would refuse some of them on a busy machine."""

    daemon_threads = True
    request_queue_size = 128


def reply(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
    """Answer with `body` (bytes or text as they are, anything else as JSON); a client that gave
    up meanwhile (a timeout test) is no error."""
    if isinstance(body, bytes):
        payload = body
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


def cut_short(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer the status line and headers, then half the body, then close: a reset mid-answer."""
    payload = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[: len(payload) // 2])
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
