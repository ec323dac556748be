"""numproxy.v1.HookService for the lobby: thin proto <-> decision mapping."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import duration_pb2

from numproxy.common.numbers import mask
from numproxy.lobby.chats import PAIR_KEY
from numproxy.lobby.lobby import Decision, Drop, Lobby, OpenChat, Reply
from numproxy.lobby.settings import LobbySettings
from numproxy.v1 import hook_pb2, hook_pb2_grpc, session_pb2

log = logging.getLogger(__name__)
SERVICE_NAME = "numproxy.v1.HookService"


def pool_id(name: str) -> str:
    return name.removeprefix("pools/")


class LobbyHooks(hook_pb2_grpc.HookServiceServicer):
    def __init__(self, lobby: Lobby, settings: LobbySettings) -> None:
        self._lobby = lobby
        self._settings = settings

    async def ResolveOutOfSession(
        self,
        request: hook_pb2.ResolveOutOfSessionRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> hook_pb2.ResolveOutOfSessionResponse:
        if pool_id(request.pool) != self._settings.lobby_pool:
            return hook_pb2.ResolveOutOfSessionResponse(drop=hook_pb2.DropAction())
        decision = await self._lobby.resolve(request.sender_number, request.text[:1000])
        log.info("lobby: %s -> %s", mask(request.sender_number), type(decision).__name__)
        return self._response(decision)

    async def InterceptMessage(
        self,
        request: hook_pb2.InterceptMessageRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> hook_pb2.InterceptMessageResponse:
        return hook_pb2.InterceptMessageResponse(allow=hook_pb2.AllowAction())

    def _response(self, decision: Decision) -> hook_pb2.ResolveOutOfSessionResponse:
        if isinstance(decision, Reply):
            return hook_pb2.ResolveOutOfSessionResponse(
                reply=hook_pb2.ReplyAction(text=decision.text)
            )
        if isinstance(decision, Drop):
            return hook_pb2.ResolveOutOfSessionResponse(drop=hook_pb2.DropAction())
        assert isinstance(decision, OpenChat)
        s = self._settings
        action = hook_pb2.CreateSessionAction(
            participants=[
                session_pb2.ParticipantSpec(number=decision.partner, greeting=s.connected_text),
                session_pb2.ParticipantSpec(number=decision.sender, greeting=s.connected_text),
            ],
            pool=f"pools/{s.chat_pool}",
            metadata={"app": "lobby", PAIR_KEY: decision.pair_id},
            close_notice=s.goodbye_text,
        )
        if s.chat_ttl:
            action.ttl.CopyFrom(duration_pb2.Duration(seconds=int(s.chat_ttl)))
        return hook_pb2.ResolveOutOfSessionResponse(create_session=action)


def register(servicer: LobbyHooks) -> Callable[[grpc.aio.Server], None]:
    """The ``register`` callback GrpcService takes."""

    def add(server: grpc.aio.Server) -> None:
        hook_pb2_grpc.add_HookServiceServicer_to_server(servicer, server)

    return add
