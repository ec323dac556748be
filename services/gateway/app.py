"""The gateway's HTTP face: Vonage webhooks in, one router call each, health probes.

Routes stay thin: reading parameters, verification and parsing live in their own modules.
Vonage gets 204 only after the router accepted the webhook, 503 when the router can't be
reached (Vonage retries), and a JSON error for anything it sent wrong.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from numproxy.common import tracing
from numproxy.common.logging import request_id
from numproxy.common.numbers import mask
from numproxy.gateway.delivery_receipt import parse_delivery_receipt
from numproxy.gateway.errors import WebhookError, error_response, unauthorized
from numproxy.gateway.inbound_message import parse_inbound_message
from numproxy.gateway.inbound_sms import parse_inbound_sms
from numproxy.gateway.message_token import bearer_token, verify_message_token
from numproxy.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from numproxy.gateway.params import JSON, read_body, read_params, require_media_type
from numproxy.gateway.replay import ReplayCache
from numproxy.gateway.router_client import RouterClient
from numproxy.gateway.settings import GatewaySettings
from numproxy.gateway.sms_signature import check_sms_signature
from numproxy.internal.v1 import inbound_pb2

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_REQUEST_ID = re.compile(r"^[\w.-]{1,64}$")
_TRACE_HEADERS = ("traceparent", "tracestate")


@dataclass
class Trace:
    """What the one log line of a webhook says (numbers masked when written)."""

    webhook: str
    method: str
    message_id: str = ""
    sender: str = ""
    recipient: str = ""
    outcome: str = ""
    # The outcome as a metrics label (bounded: no provider text in it).
    label: str = ""
    error: str = ""
    detail: str = ""
    failure: Exception | None = None
    # The signed request this webhook claimed in the replay cache (released unless accepted).
    replay_key: str = ""

    def identify(self, message_id: str, sender: str, recipient: str) -> None:
        self.message_id, self.sender, self.recipient = message_id, sender, recipient


Handler = Callable[[Request, Trace], Awaitable[None]]


class Webhooks:
    def __init__(
        self,
        settings: GatewaySettings,
        router: RouterClient,
        clock: Clock,
        metrics: GatewayMetrics,
        replays: ReplayCache,
    ) -> None:
        self.metrics = metrics
        self._replays = replays
        self._settings = settings
        self._secret = settings.signature_secret.get_secret_value()
        self._router = router
        self._clock = clock

    async def inbound_sms(self, request: Request) -> Response:
        return await self._run("inbound-sms", request, self._inbound_sms)

    async def inbound_message(self, request: Request) -> Response:
        return await self._run("inbound-message", request, self._inbound_message)

    async def delivery_receipt(self, request: Request) -> Response:
        return await self._run("delivery-receipt", request, self._delivery_receipt)

    async def _signed_params(self, request: Request, trace: Trace) -> dict[str, str]:
        params = await read_params(request, self._settings.max_body_bytes)
        now = self._clock()
        check_sms_signature(
            params,
            secret=self._secret,
            method=self._settings.signature_method,
            max_age=self._settings.signature_max_age,
            now=now,
        )
        if self._secret:
            # Signatures compare case-insensitively, so one request has one key.
            self._claim(trace, "sig:" + params["sig"].lower(), now)
        return params

    def _claim(self, trace: Trace, key: str, now: float) -> None:
        """Refuse a signed request this process has already accepted (or is handling)."""
        if not self._replays.claim(key, now):
            raise unauthorized("SIGNATURE_REPLAYED", "this signed request was already received")
        trace.replay_key = key

    async def _inbound_sms(self, request: Request, trace: Trace) -> None:
        sms = parse_inbound_sms(await self._signed_params(request, trace))
        trace.identify(sms.message_id, sms.from_number, sms.to_number)
        reply = await self._router.receive_sms(sms)
        trace.outcome = trace.label = _outcome_name(reply.outcome)

    async def _inbound_message(self, request: Request, trace: Trace) -> None:
        require_media_type(request, JSON)
        body = await read_body(request, self._settings.max_body_bytes)
        authorization = request.headers.get("authorization")
        now = self._clock()
        claims = verify_message_token(
            authorization,
            body,
            secret=self._secret,
            max_age=self._settings.signature_max_age,
            now=now,
        )
        if self._secret:
            jti = claims.get("jti")
            token = bearer_token(authorization) or ""
            key = f"jti:{jti}" if isinstance(jti, str) and jti else "jwt:" + _digest(token)
            self._claim(trace, key, now)
        sms = parse_inbound_message(body, claims)
        trace.identify(sms.message_id, sms.from_number, sms.to_number)
        reply = await self._router.receive_sms(sms)
        trace.outcome = trace.label = _outcome_name(reply.outcome)

    async def _delivery_receipt(self, request: Request, trace: Trace) -> None:
        receipt = parse_delivery_receipt(await self._signed_params(request, trace))
        trace.identify(receipt.message_id, receipt.sender_id, receipt.recipient_number)
        reply = await self._router.receive_delivery_receipt(receipt)
        trace.label = "matched" if reply.matched else "unmatched"
        trace.outcome = f"{receipt.status}/{trace.label}"

    async def _run(self, webhook: str, request: Request, handler: Handler) -> Response:
        if not tracing.enabled():
            return await self._answer(webhook, request, handler)
        # The message's trace starts here (or joins the caller's, given a traceparent).
        incoming = {k: v for k in _TRACE_HEADERS if (v := request.headers.get(k))}
        with tracing.span(
            f"numproxy.gateway/webhook/{webhook}", parent=incoming or None, kind=SpanKind.SERVER
        ) as span:
            response = await self._answer(webhook, request, handler)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _answer(self, webhook: str, request: Request, handler: Handler) -> Response:
        header = request.headers.get("x-request-id", "")
        rid = header if _REQUEST_ID.match(header) else uuid.uuid4().hex
        token = request_id.set(rid)
        trace = Trace(webhook, request.method)
        started = time.perf_counter()
        accepted = False
        try:
            try:
                await handler(request, trace)
                response: Response = Response(status_code=204)
                accepted = True
            except WebhookError as exc:
                response = exc.response()
                trace.error, trace.detail = exc.code, exc.detail
            except Exception as exc:
                response = error_response(500, "INTERNAL", "internal error")
                trace.error, trace.failure = "INTERNAL", exc
            _log_webhook(trace, response.status_code)
            self.metrics.observe(
                webhook,
                response.status_code,
                time.perf_counter() - started,
                trace.label,
                trace.error,
            )
            response.headers["x-request-id"] = rid
            return response
        finally:
            # Only an accepted request is remembered: Vonage may deliver any other again (also
            # one cut off by a disconnect, which ends here as a cancellation).
            if trace.replay_key and not accepted:
                self._replays.release(trace.replay_key)
            request_id.reset(token)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _outcome_name(outcome: inbound_pb2.InboundOutcome.ValueType) -> str:
    return inbound_pb2.InboundOutcome.Name(outcome).removeprefix("INBOUND_OUTCOME_")


def _log_webhook(trace: Trace, status: int) -> None:
    # 503 is transient (Vonage retries); other 5xx need a look.
    level = logging.INFO if status < 400 else logging.WARNING
    if status >= 500 and status != 503:
        level = logging.ERROR
    result = f"error={trace.error}" if trace.error else f"outcome={trace.outcome}"
    if trace.detail:
        result += f" ({trace.detail})"
    log.log(
        level,
        "%s %s %d message_id=%s from=%s to=%s %s",
        trace.webhook,
        trace.method,
        status,
        trace.message_id or "-",
        mask(trace.sender) or "-",
        mask(trace.recipient) or "-",
        result,
        exc_info=trace.failure,
        extra={
            "webhook": trace.webhook,
            "http_status": status,
            "message_id": trace.message_id,
            "outcome": trace.error or trace.outcome,
        },
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "HTTP_ERROR")
    response = error_response(status, code, detail)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # e.g. Allow on 405
    return response


def create_app(
    settings: GatewaySettings, router: RouterClient, *, clock: Clock = time.time
) -> Starlette:
    """The gateway's ASGI app; ``router`` (and its channel) belong to the caller."""
    metrics = GatewayMetrics()
    replays = ReplayCache(settings.replay_cache_size, settings.signature_max_age)
    webhooks = Webhooks(settings, router, clock, metrics, replays)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await router.is_ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "router not serving"}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    routes = [
        Route("/webhooks/inbound-sms", webhooks.inbound_sms, methods=["GET", "POST"]),
        Route("/webhooks/inbound-message", webhooks.inbound_message, methods=["POST"]),
        Route("/webhooks/delivery-receipt", webhooks.delivery_receipt, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
