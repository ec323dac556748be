"""Baseline (b): the hop floor — gateway -> router -> sender with no database or provider work.

Why a separate tiny chain here instead of a flag in the services: a setting that makes the
production router acknowledge webhooks without writing them would be one mistyped variable
away from silently dropping messages. So the benchmark-only code lives in bench/, and it is
built from the real plumbing, so the floor measures what numproxy's hops cost:

- the real gateway process (``python -m numproxy.gateway``, unchanged) in front;
- ``router``: the real ``GrpcService`` (health, reflection, TLS, authentication and error
  interceptors), the real request validation (``sms_from_proto``), then the send over a real
  channel to the sender — synchronously, so an acknowledged webhook has passed all three
  hops. Like the real router it takes the gateway's batches (``ReceiveSmsBatch``) and passes
  each on as one ``SendSmsBatch`` call;
- ``sender``: the real ``SenderServicer`` and ``SmsSender`` (encoding, idempotency cache,
  rate limiter at 0) over a ``VonageClient`` whose ``send`` returns a canned provider reply.

    python -m bench.hop_floor router   (NUMPROXY_ROUTER_PORT, NUMPROXY_ROUTER_SENDER_ADDRESS)
    python -m bench.hop_floor sender   (NUMPROXY_SENDER_* as the real sender)
"""

from __future__ import annotations

import sys
from typing import Any

import grpc
import httpx

from numproxy.common.eventloop import run as run_loop
from numproxy.common.grpc_client import open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.logging import configure_logging
from numproxy.common.tls import ServerAuth
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc, sender_pb2, sender_pb2_grpc
from numproxy.router.api.inbound_servicer import SERVICE_NAME, sms_from_proto
from numproxy.router.settings import RouterSettings
from numproxy.sender.__main__ import build_sender as build_sms_sender
from numproxy.sender.__main__ import build_service, credentials
from numproxy.sender.replies import ProviderReply, parse_reply
from numproxy.sender.settings import SenderSettings
from numproxy.sender.vonage import OutboundSms, VonageClient

_REPLY = (
    b'{"message-count":"1","messages":[{"to":"447700900000","message-id":"0A0000000123ABCD",'
    b'"status":"0","remaining-balance":"3.14159265","message-price":"0.03330000",'
    b'"network":"23410"}]}'
)


class _NoProvider(VonageClient):
    """A VonageClient that builds the request form but answers without any HTTP call."""

    async def send(self, sms: OutboundSms, *, http_timeout: float) -> ProviderReply:
        self.build_form(sms)
        return parse_reply(_REPLY)


class _FloorInbound(inbound_pb2_grpc.InboundServiceServicer):
    def __init__(self, sender: sender_pb2_grpc.SenderServiceAsyncStub, timeout: float) -> None:
        self._sender = sender
        self._timeout = timeout

    async def ReceiveSms(
        self, request: inbound_pb2.ReceiveSmsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> inbound_pb2.ReceiveSmsResponse:
        sms = sms_from_proto(request)
        await self._sender.SendSms(
            sender_pb2.SendSmsRequest(
                from_number=sms.proxy_number,
                to_number=sms.sender_number,
                text=sms.text,
                idempotency_key=sms.message_id,
            ),
            timeout=self._timeout,
        )
        return inbound_pb2.ReceiveSmsResponse(outcome=inbound_pb2.INBOUND_OUTCOME_FORWARDED)

    async def ReceiveSmsBatch(
        self,
        request: inbound_pb2.ReceiveSmsBatchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> inbound_pb2.ReceiveSmsBatchResponse:
        messages = [sms_from_proto(message) for message in request.messages]
        await self._sender.SendSmsBatch(
            sender_pb2.SendSmsBatchRequest(
                messages=[
                    sender_pb2.SendSmsRequest(
                        from_number=sms.proxy_number,
                        to_number=sms.sender_number,
                        text=sms.text,
                        idempotency_key=sms.message_id,
                    )
                    for sms in messages
                ]
            ),
            timeout=self._timeout,
        )
        forwarded = inbound_pb2.ReceiveSmsResponse(outcome=inbound_pb2.INBOUND_OUTCOME_FORWARDED)
        return inbound_pb2.ReceiveSmsBatchResponse(
            results=[inbound_pb2.ReceiveSmsResult(received=forwarded) for _ in messages]
        )

    async def ReceiveDeliveryReceipt(
        self,
        request: inbound_pb2.ReceiveDeliveryReceiptRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> inbound_pb2.ReceiveDeliveryReceiptResponse:
        return inbound_pb2.ReceiveDeliveryReceiptResponse(matched=False)  # not measured


async def router() -> None:
    settings = RouterSettings()
    configure_logging("router", settings.log_level, settings.log_format)
    channel = open_channel(settings.sender_address, settings.client_tls())
    stub = sender_pb2_grpc.SenderServiceStub(channel)
    servicer = _FloorInbound(stub, settings.send_timeout)
    service = GrpcService(
        bind=f"{settings.host}:{settings.port}",
        services=[SERVICE_NAME],
        register=lambda server: inbound_pb2_grpc.add_InboundServiceServicer_to_server(
            servicer, server
        ),
        auth=ServerAuth.from_settings(settings),
        grace=settings.shutdown_grace,
    )

    async def close_channel() -> None:
        await channel.close(None)

    service.on_shutdown(close_channel)
    await service.run()


async def sender() -> None:
    settings = SenderSettings()
    configure_logging("sender", settings.log_level, settings.log_format)
    http = httpx.AsyncClient()  # never used: _NoProvider makes no HTTP call
    client = _NoProvider(http, settings.base_url, credentials(settings))
    service = build_service(settings, build_sms_sender(settings, client))
    service.on_shutdown(http.aclose)
    await service.run()


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("router", "sender"):
        raise SystemExit("usage: python -m bench.hop_floor router|sender")
    run_loop(router() if role == "router" else sender())


if __name__ == "__main__":
    main()
