"""Client-side gRPC helpers: one channel per target and process, health checks."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from numproxy.common import tracing

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # Reconnect quickly after a peer restarts (default backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure channel to ``target`` (host:port). Create one per process and reuse it."""
    return grpc.aio.insecure_channel(
        target, options=CHANNEL_OPTIONS, interceptors=tracing.client_interceptors() or None
    )


async def is_serving(channel: grpc.aio.Channel, service: str = "", deadline: float = 1.0) -> bool:
    """True when the peer's standard health service reports SERVING for ``service``."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
