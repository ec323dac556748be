"""The two pools the lobby needs, created or brought up to date through PoolService:

- the lobby pool: texts outside a session go to the lobby's ResolveOutOfSession hook;
- the chat pool: the chats, closed for both by the end command, with a goodbye notice.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import duration_pb2, field_mask_pb2

from numproxy.client import NumproxyClient, translate
from numproxy.lobby.settings import LobbySettings
from numproxy.v1 import pool_pb2, pool_pb2_grpc

HOOK_DEADLINE_SECONDS = 2
LOBBY_FIELDS = ["hooks", "out_of_session_policy"]
CHAT_FIELDS = ["end_command", "close_notice", "max_participants", "out_of_session_policy"]


def lobby_pool(settings: LobbySettings, lobby_address: str) -> pool_pb2.Pool:
    return pool_pb2.Pool(
        name=f"pools/{settings.lobby_pool}",
        out_of_session_policy=pool_pb2.OUT_OF_SESSION_POLICY_DROP,
        hooks=pool_pb2.PoolHooks(
            address=lobby_address,
            deadline=duration_pb2.Duration(seconds=HOOK_DEADLINE_SECONDS),
            failure_mode=pool_pb2.HOOK_FAILURE_MODE_FAIL_CLOSED,
            resolve_out_of_session=True,
        ),
    )


def chat_pool(settings: LobbySettings) -> pool_pb2.Pool:
    return pool_pb2.Pool(
        name=f"pools/{settings.chat_pool}",
        out_of_session_policy=pool_pb2.OUT_OF_SESSION_POLICY_DROP,
        end_command=settings.end_command,
        close_notice=settings.goodbye_text,
        max_participants=2,
    )


async def ensure_pools(
    channel: grpc.aio.Channel,
    settings: LobbySettings,
    *,
    lobby_address: str,
    lobby_numbers: Sequence[str],
    chat_numbers: Sequence[str],
    timeout: float = 5.0,
) -> None:
    """Create both pools (or update their lobby fields) and add the numbers."""
    stub = pool_pb2_grpc.PoolServiceStub(channel)
    client = NumproxyClient("router", timeout=timeout, channel=channel)
    wanted = [
        (lobby_pool(settings, lobby_address), LOBBY_FIELDS, lobby_numbers),
        (chat_pool(settings), CHAT_FIELDS, chat_numbers),
    ]
    for pool, fields, numbers in wanted:
        pool_id = pool.name.removeprefix("pools/")
        try:
            try:
                await stub.CreatePool(
                    pool_pb2.CreatePoolRequest(pool_id=pool_id, pool=pool), timeout=timeout
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                await stub.UpdatePool(
                    pool_pb2.UpdatePoolRequest(
                        pool=pool, update_mask=field_mask_pb2.FieldMask(paths=fields)
                    ),
                    timeout=timeout,
                )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, "router") from None
        if numbers:
            await client.add_numbers(pool_id, numbers)
