"""An OTLP/HTTP trace receiver in the test process: the real services export to it as they
would to a collector, and a test reads the spans they sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from numproxy.common.http_server import running_http

# Largest export accepted (the SDK's batches are far smaller).
_MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    links: tuple[str, ...]  # trace ids linked to


class OtlpReceiver:
    """``keep``: parse and keep the spans (tests); else only count the exports (the
    benchmark, where parsing would take CPU from the services measured)."""

    def __init__(self, keep: bool = True) -> None:
        self.spans: list[ReceivedSpan] = []
        self.exports = 0
        self.endpoint = ""
        self._keep = keep

    async def export(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_BODY:
            return Response(status_code=413)
        self.exports += 1
        if not self._keep:
            return Response(b"", media_type="application/x-protobuf")
        message = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource_spans in message.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            links=tuple(link.trace_id.hex() for link in span.links),
                        )
                    )
        reply = trace_service_pb2.ExportTraceServiceResponse()
        return Response(reply.SerializeToString(), media_type="application/x-protobuf")

    async def wait_for(
        self, found: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """Wait until ``found`` holds for the spans received; all of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not found(self.spans):
            if loop.time() > deadline:
                shown = sorted({(s.service, s.name) for s in self.spans})
                raise AssertionError(f"spans awaited not received within {timeout}s: {shown}")
            await asyncio.sleep(0.05)
        return list(self.spans)


@asynccontextmanager
async def otlp_receiver(keep: bool = True) -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver(keep)
    app = Starlette(routes=[Route("/v1/traces", receiver.export, methods=["POST"])])
    async with running_http(app) as port:
        receiver.endpoint = f"http://127.0.0.1:{port}"
        yield receiver
