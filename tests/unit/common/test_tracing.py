"""When tracing is on (the OTEL_* switch), and that off it does nothing at all; log lines
carry the ids of the span they were logged in."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from numproxy.common import tracing
from numproxy.common.logging import JsonFormatter

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "false"}, True),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_wanted_only_with_an_endpoint_and_not_disabled(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.wanted(environ) is on


def test_services_name_themselves_unless_the_environment_names_them() -> None:
    assert tracing.resource_attributes("router", {}) == {"service.name": "numproxy-router"}
    assert tracing.resource_attributes("router", {"OTEL_SERVICE_NAME": "edge-router"}) == {}
    named = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=x"}
    assert tracing.resource_attributes("router", named) == {}


def test_off_nothing_is_recorded_or_serialised() -> None:
    assert not tracing.enabled()
    stop = tracing.configure_tracing("router", {})
    assert not tracing.enabled()
    stop()
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    assert carrier == {}
    assert tracing.traceparent() is None
    assert tracing.start_span("x") is None
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    with tracing.span("x", parent="00-" + "1" * 32 + "-" + "2" * 16 + "-01") as span:
        assert span is None


def test_a_traceparent_round_trips_and_junk_is_no_context() -> None:
    traceparent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    ctx = tracing.context_of(traceparent)
    assert ctx is not None
    assert format(trace.get_current_span(ctx).get_span_context().trace_id, "032x") == "ab" * 16
    assert tracing.context_of("not a traceparent") is None
    assert tracing.context_of({"traceparent": "00-" + "a" * 600}) is None
    link = tracing.link_to(traceparent)
    assert link is not None and link.context.span_id == int("cd" * 8, 16)


def test_log_lines_carry_the_span_they_were_logged_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_on", True)  # as configure_tracing sets it, without exporting
    span = TracerProvider().get_tracer("test").start_span("work")
    record = logging.makeLogRecord({"msg": "inside", "levelno": logging.INFO})
    with trace.use_span(span, end_on_exit=True):
        entry = json.loads(JsonFormatter("router").format(record))
        assert tracing.traceparent() is not None
    ids = span.get_span_context()
    assert entry["trace_id"] == format(ids.trace_id, "032x")
    assert entry["span_id"] == format(ids.span_id, "016x")
    outside = json.loads(JsonFormatter("router").format(record))
    assert "trace_id" not in outside
