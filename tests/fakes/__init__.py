"""Fake provider servers that speak each backend's wire format, for the connector tests."""

from http.server import ThreadingHTTPServer


class FakeServer(ThreadingHTTPServer):
    """A threaded HTTP server for fakes: a batch opens dozens of connections at once, and the
    standard backlog of 5 would refuse some of them on a busy machine."""

    daemon_threads = True
    request_queue_size = 128
