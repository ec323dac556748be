"""The console's actions: close a session, send a system message, drain a number.

Each is two steps: the first request shows what will happen and asks to confirm; only a POST
carrying ``confirm=yes`` (and the CSRF token, checked by the endpoint wrapper) acts. Every
attempt that reaches the router is recorded in the audit log, with its outcome.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from numproxy.client import NumproxyError
from numproxy.common.errors import DomainError
from numproxy.common.numbers import normalize
from numproxy.console.display import session_row
from numproxy.console.views import POOL_ID
from numproxy.console.web import Context, HttpError, endpoint, render, session_id

MAX_TEXT = 1600


def _confirmed(ctx: Context) -> bool:
    return ctx.form.get("confirm") == "yes"


def _audit(ctx: Context, action: str, target: str, outcome: str, detail: str = "") -> None:
    who = ctx.user
    ctx.console.audit.record(who.user, who.via, action, target, outcome, detail)


@endpoint(action=True)
async def close_session(request: Request, ctx: Context) -> Response:
    sid = session_id(request)
    session = await ctx.console.router.get_session(sid)
    if request.method == "GET" or not _confirmed(ctx):
        return render(
            request,
            ctx,
            "confirm.html",
            title="Close this session?",
            what=f"Session {sid} closes for every participant; texts to its proxy numbers "
            "stop being forwarded.",
            session=session_row(session),
            fields={},
        )
    try:
        await ctx.console.router.close_session(sid)
    except NumproxyError as exc:
        _audit(ctx, "close_session", f"sessions/{sid}", "refused", exc.reason)
        raise
    _audit(ctx, "close_session", f"sessions/{sid}", "done")
    return RedirectResponse(f"/sessions/{sid}?done=closed", status_code=303)


@endpoint(action=True)
async def send_message(request: Request, ctx: Context) -> Response:
    sid = session_id(request)
    session = await ctx.console.router.get_session(sid)
    row = session_row(session)
    if request.method == "GET":
        return render(request, ctx, "send.html", session=row, error="", text="", to="1")
    to, text = ctx.form.get("to", ""), ctx.form.get("text", "").strip()
    error = ""
    if not to.isdigit() or not 1 <= int(to) <= len(session.participants):
        error = "Choose a participant."
    elif not text or len(text) > MAX_TEXT:
        error = f"The text must be 1 to {MAX_TEXT} characters."
    if error:
        return render(
            request, ctx, "send.html", status=400, session=row, error=error, text=text, to=to
        )
    participant = row.participants[int(to) - 1]
    if not _confirmed(ctx):
        return render(
            request,
            ctx,
            "confirm.html",
            title="Send this system message?",
            what=f"{participant.label} receives this text from their proxy number "
            f"{participant.proxy_number}:",
            preview=text,
            session=row,
            fields={"to": to, "text": text, "request_id": str(uuid.uuid4())},
        )
    request_id = ctx.form.get("request_id", "")[:64]
    target = f"sessions/{sid} to P{to} ({participant.number})"
    detail = f"{len(text)} characters"
    try:
        await ctx.console.router.send_message(
            sid, session.participants[int(to) - 1].number, text, request_id
        )
    except NumproxyError as exc:
        _audit(ctx, "send_message", target, "refused", f"{detail}; {exc.reason}")
        raise
    _audit(ctx, "send_message", target, "done", detail)
    return RedirectResponse(f"/sessions/{sid}?done=sent", status_code=303)


@endpoint(action=True)
async def drain_number(request: Request, ctx: Context) -> Response:
    pool = str(request.path_params["pool"])
    if not POOL_ID.match(pool):
        raise HttpError(404, "No such pool.")
    try:
        number = normalize(str(request.path_params["number"])[:32])
    except DomainError as exc:
        raise HttpError(404, "No such number.") from exc
    if request.method == "GET" or not _confirmed(ctx):
        return render(
            request,
            ctx,
            "confirm.html",
            title="Drain this number?",
            what=f"{number} in pool {pool} takes no new sessions; the sessions on it run to "
            "their end.",
            session=None,
            fields={},
        )
    target = f"pools/{pool}/numbers/{number}"
    try:
        await ctx.console.router.drain_number(pool, number)
    except NumproxyError as exc:
        _audit(ctx, "drain_number", target, "refused", exc.reason)
        raise
    _audit(ctx, "drain_number", target, "done")
    return RedirectResponse("/pools?done=drained", status_code=303)
