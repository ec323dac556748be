"""The one way a numproxy gRPC service starts and stops.

Standard health service (per-service status, SERVING only while its dependency checks pass,
NOT_SERVING on shutdown), reflection when asked for, the authentication interceptor, the
error-mapping one, then the service's own (authorization), TLS (mTLS on the main port;
optionally a token port and a plaintext health-only port), and a graceful SIGTERM
path: health NOT_SERVING -> server.stop(grace) beside the background work's own stop, both
within the one grace -> cleanup callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as server_reflection

from numproxy.common import tracing
from numproxy.common.authentication import AuthenticationInterceptor
from numproxy.common.errors import ErrorMappingInterceptor, Translate
from numproxy.common.ports import ensure_free, split_bind
from numproxy.common.tls import ServerAuth, warn_plaintext

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
Cleanup = Callable[[], Awaitable[None]]

_SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcService:
    """A grpc.aio server with health, optional reflection and graceful shutdown.

    ``services`` are the fully-qualified service names registered by ``register``; each gets
    a health status, as does the overall ("") status. ``auth`` says how callers are
    authenticated (``ServerAuth.from_settings``; ``PLAINTEXT_SERVER`` for in-process tests).
    ``interceptors`` run after the error mapping, in order, so what they raise is mapped like a
    handler's errors, with the caller bound.
    """

    def __init__(
        self,
        *,
        bind: str,
        services: Sequence[str],
        register: Callable[[grpc.aio.Server], None],
        auth: ServerAuth,
        readiness: ReadinessCheck | None = None,
        readiness_interval: float = 2.0,
        grace: float = 10.0,
        translate_errors: Translate | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
        reflection: bool = False,
    ) -> None:
        self._bind = bind
        self._services = list(services)
        self._readiness = readiness
        self._readiness_interval = readiness_interval
        self._grace = grace
        self._cleanups: list[Cleanup] = []
        self._stoppers: list[Cleanup] = []
        self._stopping = asyncio.Event()
        self._auth = auth
        self.server = grpc.aio.server(
            # Tracing's interceptor first (none when off): its span covers the whole call.
            # Then authentication: the caller is bound while the error mapping, the service's
            # interceptors and the handler run.
            interceptors=[
                *tracing.server_interceptors(),
                AuthenticationInterceptor(auth.tokens, plaintext=auth.tls is None),
                ErrorMappingInterceptor(translate_errors),
                *interceptors,
            ],
            options=_SERVER_OPTIONS,
        )
        register(self.server)
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if reflection:
            server_reflection.enable_server_reflection(
                [*self._services, health.SERVICE_NAME, server_reflection.SERVICE_NAME], self.server
            )
        # Kubelet's grpc probes speak plaintext only: a second server with nothing but health.
        self._health_server: grpc.aio.Server | None = None
        if auth.health_port:
            self._health_server = grpc.aio.server(options=_SERVER_OPTIONS)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        self.port = 0
        self.token_port = 0
        self.health_port = 0

    def on_shutdown(self, cleanup: Cleanup) -> None:
        """Run ``cleanup`` after the server stopped (close clients, dispose engines)."""
        self._cleanups.append(cleanup)

    def on_stop(self, stop: Cleanup) -> None:
        """Run ``stop`` beside ``server.stop(grace)``, before the cleanups: background work
        that stops taking work and finishes (or hands back) what it holds within the same
        grace, so shutting down takes one grace period, not one after the other."""
        self._stoppers.append(stop)

    async def start(self) -> int:
        host = self._bind.rsplit(":", 1)[0]
        tls = self._auth.tls
        if tls is None:
            warn_plaintext(", ".join(self._services))
            self.port = _add_port(self.server, self._bind, None)
        else:
            self.port = _add_port(self.server, self._bind, tls.credentials())
            if self._auth.token_port:
                bind = f"{host}:{self._auth.token_port}"
                credentials = tls.credentials(require_client_cert=False)
                self.token_port = _add_port(self.server, bind, credentials)
        if self._health_server is not None:
            bind = f"{host}:{self._auth.health_port}"
            self.health_port = _add_port(self._health_server, bind, None)
        await self._set_all(NOT_SERVING)
        await self.server.start()
        if self._health_server is not None:
            await self._health_server.start()
        await self._refresh_health()
        return self.port

    async def _set_all(
        self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType
    ) -> None:
        for name in ("", *self._services):
            await self.health.set(name, status)

    async def _refresh_health(self) -> None:
        ok = True
        if self._readiness is not None:
            try:
                ok = await self._readiness()
            except Exception as exc:  # a failing check means "not ready", never a crash
                log.warning("readiness check failed: %s", exc)
                ok = False
        if not self._stopping.is_set():
            await self._set_all(SERVING if ok else NOT_SERVING)

    async def _health_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._readiness_interval)
            if not self._stopping.is_set():
                await self._refresh_health()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or request_stop), then shut down gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        log.info("serving %s on port %d", ", ".join(self._services), self.port)
        health_task = asyncio.create_task(self._health_loop())
        try:
            await self._stopping.wait()
        finally:
            await self.stop()
            health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health_task
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def stop(self) -> None:
        self._stopping.set()
        log.info("shutting down (grace %.1fs)", self._grace)
        await self.health.enter_graceful_shutdown()
        results = await asyncio.gather(
            self.server.stop(self._grace),
            *([self._health_server.stop(self._grace)] if self._health_server else []),
            *(stop() for stop in self._stoppers),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception):
                log.error("stopping failed", exc_info=result)
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")
        log.info("stopped")


def _add_port(
    server: grpc.aio.Server, bind: str, credentials: grpc.ServerCredentials | None
) -> int:
    """Bind ``server`` to ``bind`` (TLS with ``credentials``); a taken port is PortInUse."""
    # Checked first: grpc reports a taken port with a C++ log line and a traceback.
    ensure_free(*split_bind(bind))
    try:
        if credentials is None:
            port = server.add_insecure_port(bind)
        else:
            port = server.add_secure_port(bind, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        ensure_free(*split_bind(bind))  # taken in between: say so
        raise OSError(f"cannot bind gRPC server to {bind}")
    return port
