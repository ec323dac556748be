"""The console's pages: pools, sessions, one session's conversation, events, audit."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from numproxy.common.errors import DomainError
from numproxy.common.numbers import normalize
from numproxy.console.display import interaction_rows, number_rows, resource_id, session_row
from numproxy.console.headroom import headroom
from numproxy.console.web import Context, HttpError, endpoint, render, session_id

POOL_ID = re.compile(r"^[a-z0-9-]{1,63}$")
STATUSES = ("open", "in_progress", "closed")
MAX_PAGE_TOKEN = 512


@endpoint()
async def home(request: Request, ctx: Context) -> Response:
    return RedirectResponse("/sessions", status_code=303)


@endpoint()
async def pools(request: Request, ctx: Context) -> Response:
    router = ctx.console.router
    rows = []
    for pool in await router.list_pools():
        numbers = await router.list_numbers(pool.name)
        live, truncated = await router.active_sessions(
            pool.name, ctx.console.settings.headroom_scan_limit
        )
        rows.append(
            {
                "id": resource_id(pool.name),
                "pool": pool,
                "numbers": number_rows(numbers),
                "headroom": headroom(numbers, live, truncated=truncated),
            }
        )
    return render(request, ctx, "pools.html", pools=rows)


def _filters(request: Request) -> dict[str, str]:
    query = request.query_params
    pool = query.get("pool", "").strip()
    status = query.get("status", "").strip()
    participant = query.get("participant", "").strip()
    token = query.get("page_token", "")
    if pool and not POOL_ID.match(pool):
        raise HttpError(400, "A pool id is lower-case letters, digits and '-'.")
    if status and status not in STATUSES:
        raise HttpError(400, f"Status is one of {', '.join(STATUSES)}.")
    if len(token) > MAX_PAGE_TOKEN:
        raise HttpError(400, "Bad page token.")
    if participant:
        try:
            participant = normalize(participant[:32], field="participant")
        except DomainError as exc:
            raise HttpError(400, "The participant must be a phone number.") from exc
    return {"pool": pool, "status": status, "participant": participant, "page_token": token}


@endpoint()
async def sessions(request: Request, ctx: Context) -> Response:
    filters = _filters(request)
    page = await ctx.console.router.list_sessions(
        pool=filters["pool"],
        status=filters["status"],
        participant=filters["participant"],
        page_size=ctx.console.settings.page_size,
        page_token=filters["page_token"],
    )
    return render(
        request,
        ctx,
        "sessions.html",
        sessions=[session_row(s) for s in page.sessions],
        next_page_token=page.next_page_token,
        filters=filters,
        statuses=STATUSES,
    )


async def _conversation(request: Request, ctx: Context) -> dict[str, Any]:
    sid = session_id(request)
    router = ctx.console.router
    session = await router.get_session(sid)
    interactions = await router.list_interactions(sid)
    return {
        "session": session_row(session),
        "interactions": interaction_rows(session, interactions, show_text=ctx.can_read_text),
    }


@endpoint()
async def session_page(request: Request, ctx: Context) -> Response:
    values = await _conversation(request, ctx)
    done = request.query_params.get("done", "")
    return render(request, ctx, "session.html", done=done[:32], **values)


@endpoint()
async def conversation(request: Request, ctx: Context) -> Response:
    """The conversation alone (the session page reloads it when an event arrives)."""
    return render(request, ctx, "conversation.html", **await _conversation(request, ctx))


@endpoint()
async def events(request: Request, ctx: Context) -> Response:
    return render(request, ctx, "events.html")


@endpoint()
async def audit(request: Request, ctx: Context) -> Response:
    return render(request, ctx, "audit.html", entries=list(ctx.console.audit.recent))
