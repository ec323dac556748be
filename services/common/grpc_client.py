"""Client-side gRPC helpers: one channel per target and process, health checks."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from numproxy.common import tracing
from numproxy.common.tls import ClientTls

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # Reconnect quickly after a peer restarts (default backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(
    target: str, tls: ClientTls | None, *, token: str | None = None
) -> grpc.aio.Channel:
    """A channel to ``target`` (host:port): TLS with ``tls`` (its client certificate, if it
    has one, presented), or plaintext when ``tls`` is None (an explicit choice). ``token`` is
    sent as ``authorization: Bearer`` on every call (TLS only: never in the clear).
    Create one per process and reuse it: the TLS handshake happens once per connection."""
    interceptors = tracing.client_interceptors() or None  # none when tracing is off
    if tls is None:
        if token is not None:
            raise ValueError("a bearer token is only sent over TLS")
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    credentials = tls.credentials()
    if token is not None:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return grpc.aio.secure_channel(
        target, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors
    )


async def is_serving(channel: grpc.aio.Channel, service: str = "", deadline: float = 1.0) -> bool:
    """True when the peer's standard health service reports SERVING for ``service``."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
