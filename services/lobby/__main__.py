"""Composition root of the lobby: settings -> logging -> engine -> router client -> lobby ->
HookService server. ``numproxy lobby migrate`` creates its tables and exits."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from sqlalchemy import select

from numproxy.client import NumproxyClient
from numproxy.common.eventloop import run as run_event_loop
from numproxy.common.grpc_client import open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.logging import configure_logging
from numproxy.common.settings import load_settings
from numproxy.common.tls import ServerAuth
from numproxy.lobby.chats import RouterChats
from numproxy.lobby.lobby import Lobby
from numproxy.lobby.servicer import SERVICE_NAME, LobbyHooks, register
from numproxy.lobby.settings import LobbySettings
from numproxy.lobby.store import LobbyLock, LobbyStore, create_tables
from numproxy.router.store.dialect import create_engine


async def run(settings: LobbySettings) -> None:
    """Serve HookService until SIGTERM; then close the router channel and the engine."""
    engine = create_engine(settings.database_url.get_secret_value())
    channel = open_channel(settings.router_address, settings.client_tls())
    client = NumproxyClient(
        settings.router_address, timeout=settings.router_timeout, channel=channel
    )
    lobby = Lobby(LobbyStore(engine), RouterChats(client, settings.chat_pool), settings)

    async def ready() -> bool:
        async with engine.connect() as conn:
            return (await conn.execute(select(LobbyLock.id))).first() is not None

    async def close_channel() -> None:
        await channel.close(None)

    service = GrpcService(
        bind=f"{settings.host}:{settings.port}",
        services=[SERVICE_NAME],
        register=register(LobbyHooks(lobby, settings)),
        auth=ServerAuth.from_settings(settings),
        readiness=ready,
        grace=settings.shutdown_grace,
    )
    service.on_shutdown(close_channel)
    service.on_shutdown(engine.dispose)
    await service.run()


async def migrate(settings: LobbySettings) -> None:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await create_tables(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="numproxy lobby",
        description="Lobby demo app, a HookService (configured by NUMPROXY_LOBBY_* variables).",
    )
    parser.add_argument("action", nargs="?", choices=["migrate"])
    parser.add_argument("--port", type=int, help="override NUMPROXY_LOBBY_PORT")
    args = parser.parse_args(argv)
    settings = load_settings(LobbySettings)
    if args.port is not None:
        settings = settings.model_copy(update={"port": args.port})
    configure_logging("lobby", settings.log_level, settings.log_format)
    if args.action == "migrate":
        asyncio.run(migrate(settings))
        print("lobby tables ready")
        return 0
    run_event_loop(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
