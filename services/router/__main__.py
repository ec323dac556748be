"""The router's composition root: ``python -m numproxy.router``.

settings -> logging -> engine -> sender channel -> dispatcher, sweeper -> servicers -> server.
Migrations are not run here (``numproxy router migrate`` / a Helm hook Job does that).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.eventloop import run as run_event_loop
from numproxy.common.grpc_client import open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.logging import configure_logging
from numproxy.common.settings import load_settings
from numproxy.internal.v1 import inbound_pb2_grpc, sender_pb2_grpc
from numproxy.router.clock import Clock, SystemClock
from numproxy.router.db.engine import READ_ONLY, create_engine, session_factory
from numproxy.router.dispatcher import Dispatcher
from numproxy.router.inbound_servicer import InboundServicer
from numproxy.router.pool_servicer import PoolServicer
from numproxy.router.pools import Pools
from numproxy.router.session_servicer import SessionServicer
from numproxy.router.sessions import Sessions
from numproxy.router.settings import RouterSettings
from numproxy.router.sweeper import Sweeper
from numproxy.v1 import pool_pb2_grpc, session_pb2_grpc

SERVICES = (
    "numproxy.v1.SessionService",
    "numproxy.v1.PoolService",
    "numproxy.internal.v1.InboundService",
)


@dataclass(frozen=True)
class Router:
    """The wired router. Its server's shutdown stops the background work (beside the server,
    within one grace), then closes the sender channel and disposes the engine."""

    service: GrpcService
    dispatcher: Dispatcher
    sweeper: Sweeper

    async def _start_background(self) -> None:
        await self.dispatcher.start()
        await self.sweeper.start()

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


def build_router(settings: RouterSettings, clock: Clock | None = None) -> Router:
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url.get_secret_value())
    factory = session_factory(engine)
    channel = open_channel(settings.sender_address)
    dispatcher = Dispatcher(factory, sender_pb2_grpc.SenderServiceStub(channel), settings, clock)
    sweeper = Sweeper(factory, clock, settings.sweep_interval)
    pools = PoolServicer(Pools(factory, clock))
    sessions = SessionServicer(Sessions(factory, clock, on_queued=dispatcher.notify))
    inbound = InboundServicer(factory, dispatcher, settings, clock)

    def register(server: grpc.aio.Server) -> None:
        session_pb2_grpc.add_SessionServiceServicer_to_server(sessions, server)
        pool_pb2_grpc.add_PoolServiceServicer_to_server(pools, server)
        inbound_pb2_grpc.add_InboundServiceServicer_to_server(inbound, server)

    async def ready() -> bool:
        return await database_answers(engine)

    service = GrpcService(
        bind=f"{settings.host}:{settings.port}",
        services=SERVICES,
        register=register,
        readiness=ready,
        grace=settings.shutdown_grace,
    )

    async def close_channel() -> None:
        await channel.close(grace=None)

    async def dispose_engine() -> None:
        await engine.dispose()

    # The dispatcher and sweeper stop beside server.stop(grace), within the same grace (the
    # dispatcher hands back the sends it could not finish); then, in reverse order of
    # registration, the sender channel is closed and the engine disposed.
    service.on_stop(dispatcher.stop)
    service.on_stop(sweeper.stop)
    service.on_shutdown(dispose_engine)
    service.on_shutdown(close_channel)
    return Router(service, dispatcher, sweeper)


async def database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        answer = (await conn.execute(text("SELECT 1"))).scalar_one()
    return bool(answer == 1)


@asynccontextmanager
async def running_router(
    settings: RouterSettings, clock: Clock | None = None
) -> AsyncIterator[int]:
    """Run a router in this process (tests: ``port=0``); yields the bound port."""
    router = build_router(settings, clock)
    port = await router.start()
    try:
        yield port
    finally:
        await router.stop()


async def run(settings: RouterSettings) -> None:
    await build_router(settings).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        print("usage: python -m numproxy.router  (configured by NUMPROXY_ROUTER_* variables)")
        return 0 if args[0] in ("-h", "--help") else 2
    settings = load_settings(RouterSettings)
    configure_logging("router", settings.log_level, settings.log_format)
    run_event_loop(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
