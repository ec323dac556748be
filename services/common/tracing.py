"""Tracing with OpenTelemetry: one trace per message across the services (docs/operations.md).

Off unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and off whenever ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``. Everything else (protocol, headers, sampler, batch delays,
service name and resource attributes) is the SDK's own ``OTEL_*`` variables.

Off, nothing is recorded and nothing is serialised: the helpers below return at once, the gRPC
interceptors are not installed, and no trace context is written to the outbox or put on
messages. On, the context travels as W3C trace context: in gRPC metadata (the interceptors of
opentelemetry-instrumentation-grpc), per message in batch items (``trace_context`` maps), and
with each outbound row (its ``trace_context`` column, a ``traceparent``), so the asynchronous
send joins the trace of the message that caused it.

The OpenTelemetry API keeps its tracer provider process-wide; the switch follows it and is set
once, by a composition root, before anything is built.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
# A carrier's values are read only up to these lengths (W3C: tracestate at most 512).
_MAX_VALUE = 512
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = "numproxy"
_on = False


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` asks for tracing (see the module's docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(service: str, environ: Mapping[str, str]) -> Callable[[], None]:
    """Install the SDK with an OTLP exporter when ``environ`` asks for it; the returned
    callable flushes and stops it (call it last, at shutdown)."""
    global _on
    if not wanted(environ):
        return _no_shutdown
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create(resource_attributes(service, environ)))
    provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
    trace.set_tracer_provider(provider)
    _on = True
    log.info("tracing on: spans exported over OTLP")

    def shutdown() -> None:
        provider.shutdown()

    return shutdown


def resource_attributes(service: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Our service name, unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names it (the
    SDK reads those itself, but attributes given in code would win over them)."""
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return {} if named else {"service.name": f"numproxy-{service}"}


def _no_shutdown() -> None:
    return None


def _exporter(environ: Mapping[str, str]) -> Any:
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def enabled() -> bool:
    return _on


# --- spans ----------------------------------------------------------------------------------


# What span() returns when tracing is off: nothing to enter, so one code path costs nothing.
_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()


def span(
    name: str,
    *,
    parent: Mapping[str, str] | str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[str] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span (the current one inside), child of ``parent`` (a carrier or a traceparent) when
    given, else of the current span; ``links``: traceparents it is linked to. None when off."""
    if not _on:
        return _OFF
    return _span(name, parent, kind, links, attributes)


@contextlib.contextmanager
def _span(
    name: str,
    parent: Mapping[str, str] | str | None,
    kind: SpanKind,
    links: Sequence[str],
    attributes: Mapping[str, str | int] | None,
) -> Iterator[Span]:
    ctx = context_of(parent) if parent else None
    linked = [link for link in (link_to(tp) for tp in links) if link is not None]
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        name, context=ctx, kind=kind, links=linked, attributes=dict(attributes or {})
    ) as current:
        yield current


def start_span(
    name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> Span | None:
    """A span the caller ends (one of several open at once, none of them current), child of
    the traceparent ``parent``; None when off."""
    if not _on:
        return None
    ctx = context_of(parent) if parent else None
    return trace.get_tracer(_TRACER).start_span(name, context=ctx, kind=kind)


def carrier_of(span: Span | None) -> dict[str, str]:
    """The W3C carrier naming ``span`` ({} for None), for a message's ``trace_context``."""
    carrier: dict[str, str] = {}
    if span is not None:
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def link_current(traceparent: str | None) -> None:
    """Link the current span to ``traceparent`` (a delivery receipt to its message's trace)."""
    if not _on or not traceparent:
        return
    link = link_to(traceparent)
    if link is not None:
        trace.get_current_span().add_link(link.context)


def context_of(carrier: Mapping[str, str] | str) -> otel_context.Context | None:
    """The context a carrier (or a bare traceparent) names; None when it names none."""
    if isinstance(carrier, str):
        carrier = {TRACEPARENT: carrier}
    bounded = {k: v for k, v in carrier.items() if len(v) <= _MAX_VALUE}
    ctx = _PROPAGATOR.extract(bounded)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def link_to(traceparent: str) -> Link | None:
    ctx = context_of(traceparent) if traceparent else None
    return Link(trace.get_current_span(ctx).get_span_context()) if ctx is not None else None


def inject(carrier: MutableMapping[str, str]) -> None:
    """Put the current context into ``carrier`` (a message's ``trace_context`` map)."""
    if _on:
        _PROPAGATOR.inject(carrier)


def traceparent() -> str | None:
    """The current span's traceparent (for an outbox row); None when off or outside a span."""
    if not _on:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines; None when none."""
    if not _on:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# --- gRPC -----------------------------------------------------------------------------------


def server_interceptors() -> list[Any]:
    """A server span per RPC, its parent taken from the call's metadata ([] when off)."""
    if not _on:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def client_interceptors() -> list[Any]:
    """A client span per RPC, the context put in the call's metadata ([] when off)."""
    if not _on:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]
