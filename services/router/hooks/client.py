"""Calling an app's HookService: one cached channel per address, the pool's deadline on every
call, every failure turned into the pool's failure mode (never an exception).
"""

from __future__ import annotations

import logging

import grpc

from numproxy.common.grpc_client import open_channel
from numproxy.common.numbers import mask
from numproxy.common.tls import ClientTls
from numproxy.router.hooks import decisions
from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.decisions import BadAnswer, Decision
from numproxy.router.sessions import names
from numproxy.router.store.states import HookKind
from numproxy.v1 import hook_pb2, hook_pb2_grpc

log = logging.getLogger(__name__)


class HookClient:
    """Channels to the apps' HookServices, opened on first use and kept (one per address a
    pool names; closed by ``close`` at shutdown). Over TLS the router presents its own
    certificate and trusts the apps' certificates signed by its CA bundle."""

    def __init__(self, tls: ClientTls | None) -> None:
        self._tls = tls
        self._stubs: dict[str, hook_pb2_grpc.HookServiceAsyncStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    async def ask(self, call: HookCall) -> Decision:
        """The app's decision about ``call``'s message, or the pool's failure mode."""
        stub = self._stub(call.hooks.address)
        try:
            if call.kind is HookKind.RESOLVE_OUT_OF_SESSION:
                return decisions.of_resolve(
                    await stub.ResolveOutOfSession(_resolve_request(call), timeout=call.deadline)
                )
            return decisions.of_intercept(
                await stub.InterceptMessage(_intercept_request(call), timeout=call.deadline)
            )
        except grpc.aio.AioRpcError as exc:
            reason = _failure(exc.code())
        except BadAnswer as exc:
            reason = f"bad answer: {exc}"
        decision = decisions.failed(call.kind, call.hooks.failure_mode, reason)
        log.warning(
            "hook %s at %s for a text from %s to %s failed (%s): %s",
            call.kind.value,
            call.hooks.address,
            mask(call.sender),
            mask(call.proxy),
            reason,
            decision.action.value,
        )
        return decision

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(grace=None)
        self._channels.clear()
        self._stubs.clear()

    def _stub(self, address: str) -> hook_pb2_grpc.HookServiceAsyncStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = open_channel(address, self._tls)
            self._channels.append(channel)
            stub = self._stubs[address] = hook_pb2_grpc.HookServiceStub(channel)
        return stub


def _failure(code: grpc.StatusCode) -> str:
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return "timeout"
    if code is grpc.StatusCode.UNAVAILABLE:
        return "unavailable"
    return f"error {code.name}"


def _resolve_request(call: HookCall) -> hook_pb2.ResolveOutOfSessionRequest:
    return hook_pb2.ResolveOutOfSessionRequest(
        pool=names.pool_name(call.hooks.pool_name),
        sender_number=call.sender,
        proxy_number=call.proxy,
        text=call.text,
        message_key=call.message_key,
    )


def _intercept_request(call: HookCall) -> hook_pb2.InterceptMessageRequest:
    return hook_pb2.InterceptMessageRequest(
        session=names.session_name(call.session_id),
        pool=names.pool_name(call.hooks.pool_name),
        sender_number=call.sender,
        proxy_number=call.proxy,
        text=call.text,
        message_key=call.message_key,
    )
