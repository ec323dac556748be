"""The router's composition root: ``python -m numproxy.router``.

settings -> logging -> tracing -> engine -> metrics -> event feed -> sender channel -> outbox
(recorder, dispatcher) -> sessions -> hooks (client, decider) -> audit trail -> inbound
pipeline and housekeeping -> pools, sweeper, events -> servicers -> server (tracing -> error
mapping -> authentication -> authorization; and the metrics server, when a port is set).
Everything is wired here and nowhere else; whatever commits events tells the feed, which
wakes the event watchers.
Migrations are not run here (``numproxy router migrate`` / a Helm hook Job does that).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.authorization import Authentication, AuthorizationInterceptor
from numproxy.common.grpc_client import open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.logging import configure_logging
from numproxy.common.metrics import MetricsServer, serve_metrics
from numproxy.common.periodic import Periodic
from numproxy.common.service_command import serve, service_parser, settings_from_args
from numproxy.common.settings import load_settings
from numproxy.common.tls import ServerAuth
from numproxy.internal.v1 import inbound_pb2_grpc, sender_pb2_grpc
from numproxy.router.api.access import SessionAccess
from numproxy.router.api.audit_servicer import AuditServicer
from numproxy.router.api.errors import database_outage
from numproxy.router.api.event_servicer import EventServicer
from numproxy.router.api.inbound_servicer import InboundServicer
from numproxy.router.api.pool_servicer import PoolServicer
from numproxy.router.api.session_servicer import SessionServicer
from numproxy.router.audit.trail import AuditTrail
from numproxy.router.clock import Clock, SystemClock
from numproxy.router.events.feed import EventFeed
from numproxy.router.events.stream import Events
from numproxy.router.hooks.client import HookClient
from numproxy.router.hooks.decider import HookDecider
from numproxy.router.inbound.housekeeping import InboundHousekeeping
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.metrics import RouterMetrics, observe_commits
from numproxy.router.metrics_collector import RouterGauges
from numproxy.router.outbox.dispatcher import Dispatcher
from numproxy.router.outbox.receipts import ReceiptRecorder
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import RetryPolicy
from numproxy.router.sessions.erasure import Erasure
from numproxy.router.sessions.membership import Membership
from numproxy.router.sessions.messaging import SessionMessaging
from numproxy.router.sessions.pools import Pools
from numproxy.router.sessions.sessions import Sessions
from numproxy.router.sessions.sweeper import Sweeper
from numproxy.router.settings import RouterSettings
from numproxy.router.store import events as store_events
from numproxy.router.store.dialect import (
    READ_ONLY,
    create_engine,
    session_factory,
    write_concurrency,
)
from numproxy.v1 import audit_pb2_grpc, event_pb2_grpc, pool_pb2_grpc, session_pb2_grpc

log = logging.getLogger(__name__)

SERVICES = (
    "numproxy.v1.SessionService",
    "numproxy.v1.PoolService",
    "numproxy.v1.EventService",
    "numproxy.v1.AuditService",
    "numproxy.internal.v1.InboundService",
)


class Background(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Router:
    """The wired router. Its server's shutdown stops the background work (beside the server,
    within one grace), then closes the sender channel and disposes the engine."""

    service: GrpcService
    background: tuple[Background, ...]

    async def _start_background(self) -> None:
        for task in self.background:
            await task.start()

    async def start(self) -> int:
        """Start serving (without signal handlers); returns the bound port."""
        await self._start_background()
        try:
            return await self.service.start()
        except BaseException:
            await self.service.stop()
            raise

    async def stop(self) -> None:
        await self.service.stop()

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then shut down gracefully."""
        await self._start_background()
        try:
            await self.service.run()
        except BaseException:
            if self.service.port == 0:  # it never bound, so its own shutdown did not run
                await self.service.stop()
            raise


class MetricsEndpoint:
    """The router's metrics: the gauges' periodic queries and the HTTP server, started and
    stopped with the other background work."""

    def __init__(
        self, settings: RouterSettings, engine: AsyncEngine, metrics: RouterMetrics, clock: Clock
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        gauges = RouterGauges(engine, metrics, clock, settings.metrics_max_pools)
        self._collector = Periodic(
            "metrics-collector", settings.metrics_interval, gauges.collect_now, _collect_failed
        )
        self._server: MetricsServer | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    async def start(self) -> None:
        self._server = serve_metrics(
            self._metrics.registry, self._settings.host, self._settings.metrics_port
        )
        await self._collector.start()

    async def stop(self) -> None:
        await self._collector.stop()
        if self._server is not None:
            self._server.close()
            self._server = None


def _collect_failed(exc: Exception) -> None:
    log.warning("collecting the router's gauges failed: %s", exc)


def build_router(
    settings: RouterSettings, clock: Clock | None = None, authentication: Authentication = ()
) -> Router:
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url.get_secret_value())
    factory = session_factory(engine)
    metrics: RouterMetrics | None = None
    if settings.metrics_port:
        metrics = RouterMetrics()
        observe_commits(engine, metrics.committed)
    feed = EventFeed(lambda: newest_event(engine), settings.event_poll_interval)
    on_events = feed.notify
    tls = settings.client_tls()
    channel = open_channel(settings.sender_address, tls)
    policy = RetryPolicy(settings)
    recorder = ResultRecorder(
        engine,
        clock,
        policy,
        linger=settings.send_result_linger,
        on_events=on_events,
        metrics=metrics,
    )
    dispatcher = Dispatcher(
        engine,
        sender_pb2_grpc.SenderServiceStub(channel),
        recorder,
        policy,
        settings,
        clock,
        on_events=on_events,
        metrics=metrics,
    )
    session_domain = Sessions(factory, clock, on_queued=dispatcher.notify, on_events=on_events)
    hook_client = HookClient(tls)
    pipeline = InboundPipeline(
        engine,
        settings,
        clock,
        dispatcher,
        concurrency=write_concurrency(engine, settings.inbound_batch_concurrency),
        on_events=on_events,
        hooks=HookDecider(engine, hook_client, session_domain, clock, on_events),
        metrics=metrics,
    )
    trail = AuditTrail(
        engine, clock, retention=settings.audit_retention, batch_max=settings.audit_batch_max
    )
    housekeeping = InboundHousekeeping(engine, pipeline, settings, clock, audit=trail)
    sweeper = Sweeper(factory, clock, settings.sweep_interval, on_events=on_events)
    pools = PoolServicer(Pools(factory, clock, on_events=on_events))
    access = SessionAccess(factory)
    sessions = SessionServicer(
        session_domain,
        SessionMessaging(factory, clock, on_queued=dispatcher.notify, on_events=on_events),
        Membership(factory, clock, on_queued=dispatcher.notify, on_events=on_events),
        access,
        Erasure(factory, clock, on_queued=dispatcher.notify, on_events=on_events),
    )
    events = EventServicer(Events(engine, feed, metrics, clock), access)
    audit = AuditServicer(trail)
    inbound = InboundServicer(
        pipeline, ReceiptRecorder(engine, clock, on_events=on_events, metrics=metrics)
    )

    def register(server: grpc.aio.Server) -> None:
        session_pb2_grpc.add_SessionServiceServicer_to_server(sessions, server)
        pool_pb2_grpc.add_PoolServiceServicer_to_server(pools, server)
        event_pb2_grpc.add_EventServiceServicer_to_server(events, server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(audit, server)
        inbound_pb2_grpc.add_InboundServiceServicer_to_server(inbound, server)

    async def ready() -> bool:
        return await database_answers(engine)

    service = GrpcService(
        bind=f"{settings.host}:{settings.port}",
        services=SERVICES,
        register=register,
        auth=ServerAuth.from_settings(settings),
        readiness=ready,
        grace=settings.shutdown_grace,
        translate_errors=metrics.counting_outages(database_outage) if metrics else database_outage,
        interceptors=[
            *authentication,
            AuthorizationInterceptor(
                settings.callers,
                audit=trail,
                translate=database_outage,
                now=clock.now,
                anonymous=settings.anonymous_caller,
            ),
        ],
        reflection=settings.reflection,
    )

    async def close_channel() -> None:
        await channel.close(grace=None)

    async def dispose_engine() -> None:
        await engine.dispose()

    # The background work stops beside server.stop(grace), within the same grace (the
    # dispatcher hands back the sends it could not finish); then, in reverse order of
    # registration, the audit trail writes what the last calls recorded, the hook and sender
    # channels are closed and the engine disposed.
    background: tuple[Background, ...] = (dispatcher, housekeeping, sweeper)
    if metrics is not None:
        background = (*background, MetricsEndpoint(settings, engine, metrics, clock))
    for task in background:
        service.on_stop(task.stop)
    service.on_shutdown(trail.stop)
    service.on_stop(feed.stop)
    service.on_shutdown(dispose_engine)
    service.on_shutdown(close_channel)
    service.on_shutdown(hook_client.close)
    return Router(service, background)


async def newest_event(engine: AsyncEngine) -> int:
    """The newest event cursor (the feed's poll for other replicas' commits)."""
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        async with conn.begin():
            return await store_events.newest(conn)


async def database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        answer = (await conn.execute(text("SELECT 1"))).scalar_one()
    return bool(answer == 1)


@asynccontextmanager
async def running_router(
    settings: RouterSettings, clock: Clock | None = None, authentication: Authentication = ()
) -> AsyncIterator[int]:
    """Run a router in this process (tests: ``port=0``); yields the bound port."""
    router = build_router(settings, clock, authentication)
    port = await router.start()
    try:
        yield port
    finally:
        await router.stop()


async def run(settings: RouterSettings) -> None:
    await build_router(settings).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "migrate":
        from numproxy.router.store.migrations import upgrade

        # Migrating opens no gRPC channel: the TLS settings are not needed (the chart's
        # migration Job mounts no certificates).
        no_tls = {"tls_cert": "", "tls_key": "", "tls_ca": "", "allow_plaintext": True}
        url = args.migrate_database_url or load_settings(RouterSettings, no_tls).database_url
        upgrade(url if isinstance(url, str) else url.get_secret_value())
        print("migrations applied")
        return 0
    settings = settings_from_args(RouterSettings, args)
    configure_logging("router", settings.log_level, settings.log_format)
    return serve("router", run(settings), traced=True)


def build_parser() -> argparse.ArgumentParser:
    parser = service_parser(
        "router",
        RouterSettings,
        "Router gRPC service: sessions, pools, events and routing. Settings: the flags below "
        "or NUMPROXY_ROUTER_* variables (DATABASE_URL only as a variable).",
        actions={"migrate": "apply the database migrations and exit"},
    )
    parser.add_argument(
        "--database-url",
        dest="migrate_database_url",
        help="with migrate: the database to migrate (default $NUMPROXY_ROUTER_DATABASE_URL)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
