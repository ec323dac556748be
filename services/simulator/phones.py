"""Phones in the browser: ``/_sim/phones`` shows a few phone panes. Typing in one sends an
inbound SMS through the simulator's own inbound path (like ``POST /_sim/inbound``); each pane
polls ``/_sim/phones/messages`` for what its phone received (the outbox)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from numproxy.common.errors import DomainError
from numproxy.common.numbers import digits, normalize
from numproxy.simulator.sms_api import SmsApi

DEFAULT_PHONES = ("+15551230001", "+15551230002", "+15551230003")
MAX_PHONES = 6
MAX_MESSAGES = 100

_templates = Environment(
    loader=PackageLoader("numproxy.simulator", "templates"),
    autoescape=select_autoescape(default=True),
)


def _numbers(raw: str, default: tuple[str, ...], limit: int) -> list[str]:
    items = [n for n in raw.split(",") if n.strip()][:limit] if raw else list(default)
    return [normalize(n[:32]) for n in items]


def received(api: SmsApi, number: str, after: int) -> list[dict[str, Any]]:
    """SMS sent to ``number`` after sequence ``after``, oldest first (at most 100).

    The outbox's record i (0-based) has sequence ``accepted - len(outbox) + i + 1``; reading
    from the newest back stops at ``after``, so a poll costs what is new, not the outbox.
    """
    wanted = digits(number)
    first = api.accepted - len(api.outbox) + 1
    found: list[dict[str, Any]] = []
    for index in range(len(api.outbox) - 1, -1, -1):
        seq = first + index
        if seq <= after:
            break
        record = api.outbox[index]
        if record["to"] == wanted:
            found.append(
                {
                    "seq": seq,
                    "from": "+" + record["from"],
                    "text": record["text"],
                    "time": record["time"],
                }
            )
    found.reverse()
    return found[-MAX_MESSAGES:]


async def phones_page(request: Request) -> Response:
    query = request.query_params
    try:
        phones = _numbers(query.get("phones", ""), DEFAULT_PHONES, MAX_PHONES)
        to = _numbers(query.get("to", ""), (), 1)
    except DomainError as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    html = _templates.get_template("phones.html").render(phones=phones, to=to[0] if to else "")
    return HTMLResponse(html)


async def phone_messages(request: Request) -> Response:
    query = request.query_params
    after = query.get("after", "0")
    try:
        number = normalize(query.get("number", "")[:32], field="number")
    except DomainError as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    if not after.isdigit() or len(after) > 18:
        return JSONResponse({"error": "after must be a sequence number"}, status_code=400)
    api: SmsApi = request.app.state.sim.api
    return JSONResponse({"messages": received(api, number, int(after)), "last": api.accepted})
