"""The simulator's HTTP face: Vonage's ``/sms/json`` and the ``/_sim`` control API.

Control API (JSON):
  POST   /_sim/inbound            deliver an inbound SMS to the gateway; answers
                                  {"messageId", "messageIds", "status", "statuses"} after the
                                  first attempt (status 0 = gateway unreachable)
  GET    /_sim/inbound/{id}       every delivery attempt of one webhook (404 if none)
  GET    /_sim/deliveries         every webhook attempt, oldest first (?messageId=, ?kind=)
  GET    /_sim/outbox             every SMS accepted by /sms/json, oldest first
  DELETE /_sim/outbox             clear it
  GET    /_sim/config             fault-injection config; POST changes some of its fields
  GET    /_sim/stats              request counters (per status, HTTP 500s, parts accepted)
  POST   /_sim/reset              outbox, counters, attempts and config back to the start
  GET    /_sim/health             {"status": "ok"}
  GET    /_sim/phones             phone panes in the browser (?phones=A,B,C&to=PROXY)
  GET    /_sim/phones/messages    SMS one phone received (?number=, ?after= sequence)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from numproxy.common.http_client import build_http_client
from numproxy.simulator.core import BadRequest, InboundRequest, Simulator
from numproxy.simulator.phones import phone_messages, phones_page
from numproxy.simulator.settings import SimulatorSettings
from numproxy.simulator.state import ConfigError


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _json_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # numbers and booleans as JSON writes them ("true", "20000")


async def _sms_params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            data = None
        if isinstance(data, dict):
            params.update({k: _json_value(v) for k, v in data.items() if v is not None})
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


async def sms_json(request: Request) -> Response:
    sim = _sim(request)
    latency = sim.config.latency_ms
    if latency:
        await asyncio.sleep(latency / 1000)
    if sim.fail_request():
        return PlainTextResponse("Internal Server Error", status_code=500)
    body = sim.send_sms(await _sms_params(request), request.headers.get("authorization"))
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise BadRequest("body must be JSON") from exc


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def post_inbound(request: Request) -> Response:
    try:
        inbound = InboundRequest.parse(await _json_body(request))
    except BadRequest as exc:
        return _bad_request(str(exc))
    return JSONResponse(await _sim(request).inbound(inbound))


async def get_inbound(request: Request) -> Response:
    message_id = request.path_params["message_id"]
    attempts = _sim(request).deliveries(message_id=message_id)
    if not attempts:
        return JSONResponse({"error": f"no webhook {message_id}"}, status_code=404)
    return JSONResponse({"messageId": message_id, "attempts": attempts})


async def get_deliveries(request: Request) -> Response:
    query = request.query_params
    attempts = _sim(request).deliveries(message_id=query.get("messageId"), kind=query.get("kind"))
    return JSONResponse(attempts)


async def outbox(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "DELETE":
        deleted = len(sim.api.outbox)
        sim.api.outbox.clear()
        return JSONResponse({"deleted": deleted})
    return JSONResponse(list(sim.api.outbox))


async def config(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        try:
            changes = await _json_body(request)
            if not isinstance(changes, dict):
                raise BadRequest("expected a JSON object")
            sim.config.update(changes)
        except (BadRequest, ConfigError) as exc:
            return _bad_request(str(exc))
    return JSONResponse(sim.config.as_dict())


async def stats(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({**sim.stats.as_dict(), "webhooks_pending": sim.deliverer.pending})


async def reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"reset": True})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: SimulatorSettings) -> Starlette:
    """A simulator app; its state lives on ``app.state.sim``."""
    sim = Simulator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        http = build_http_client(
            settings.http_transport,
            timeout=settings.webhook_timeout,
            max_connections=settings.webhook_concurrency,
        )
        sim.start(http)
        try:
            yield
        finally:
            await sim.stop()
            await http.aclose()

    app = Starlette(
        routes=[
            Route("/sms/json", sms_json, methods=["GET", "POST"]),
            Route("/_sim/inbound", post_inbound, methods=["POST"]),
            Route("/_sim/inbound/{message_id}", get_inbound, methods=["GET"]),
            Route("/_sim/deliveries", get_deliveries, methods=["GET"]),
            Route("/_sim/outbox", outbox, methods=["GET", "DELETE"]),
            Route("/_sim/config", config, methods=["GET", "POST"]),
            Route("/_sim/stats", stats, methods=["GET"]),
            Route("/_sim/reset", reset, methods=["POST"]),
            Route("/_sim/health", health, methods=["GET"]),
            Route("/_sim/phones", phones_page, methods=["GET"]),
            Route("/_sim/phones/messages", phone_messages, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app
