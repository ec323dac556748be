"""Serving a service's Prometheus metrics on their own HTTP port (the gRPC services: router,
sender; the gateway serves ``/metrics`` on its webhook port).

Each service keeps its metrics in a registry of its own (not the process-global one), so
several services in one process (tests, ``numproxy dev``) stay apart. prometheus-client's
exposition server runs in a daemon thread: a scrape never waits for the event loop, and the
event loop never waits for a scrape.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)

# Bucket bounds (seconds) for latencies of calls within the system: a millisecond to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class MetricsServer:
    """The running exposition server; ``port`` is the bound one (useful with port 0)."""

    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (any path answers) until closed."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound = int(server.server_address[1])
    log.info("metrics on %s:%d", host, bound)
    return MetricsServer(bound, server, thread)
