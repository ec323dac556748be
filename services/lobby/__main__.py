"""Composition root of the lobby: settings -> logging -> engine -> router client -> lobby ->
HookService server. ``numproxy lobby migrate`` creates its tables and exits."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from sqlalchemy import select

from numproxy.client import NumproxyClient
from numproxy.common.grpc_client import open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.logging import configure_logging
from numproxy.common.service_command import serve, service_parser, settings_from_args
from numproxy.lobby.chats import RouterChats
from numproxy.lobby.lobby import Lobby
from numproxy.lobby.servicer import SERVICE_NAME, LobbyHooks, register
from numproxy.lobby.settings import LobbySettings
from numproxy.lobby.store import LobbyLock, LobbyStore, create_tables
from numproxy.router.store.dialect import create_engine


async def run(settings: LobbySettings) -> None:
    """Serve HookService until SIGTERM; then close the router channel and the engine."""
    engine = create_engine(settings.database_url.get_secret_value())
    channel = open_channel(settings.router_address)
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
    args = build_parser().parse_args(argv)
    settings = settings_from_args(LobbySettings, args)
    configure_logging("lobby", settings.log_level, settings.log_format)
    if args.action == "migrate":
        asyncio.run(migrate(settings))
        print("lobby tables ready")
        return 0
    return serve("lobby", run(settings))


def build_parser() -> argparse.ArgumentParser:
    return service_parser(
        "lobby",
        LobbySettings,
        "Lobby demo app, a HookService that pairs strangers by email. Settings: the flags "
        "below or NUMPROXY_LOBBY_* variables (DATABASE_URL only as a variable).",
        actions={"migrate": "create the lobby's tables in NUMPROXY_LOBBY_DATABASE_URL and exit"},
    )


if __name__ == "__main__":
    raise SystemExit(main())
