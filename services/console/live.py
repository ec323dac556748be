"""Live updates as server-sent events, fed by the router's WatchEvents stream.

A session page gets one ``changed`` message per burst of that session's events (it then
reloads its conversation); the events page gets each event (numbers masked). The browser's
``Last-Event-ID`` resumes from the last cursor it saw. A slow browser slows the stream
(bounded queue), never grows memory; streams beyond ``max_streams`` are refused (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from numproxy.client import NumproxyError
from numproxy.console.display import event_json
from numproxy.console.web import Console, Context, HttpError, endpoint, session_id
from numproxy.v1 import event_pb2

KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 64
RETRY_MS = 2000
_END = None


def _cursor(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after", "0")
    if not raw.isdigit() or len(raw) > 19:
        return 0
    return int(raw)


async def _pump(
    console: Console, queue: asyncio.Queue[event_pb2.Event | None], after: int, sid: str
) -> None:
    try:
        async for event in console.router.watch_events(after_cursor=after, session_id=sid):
            await queue.put(event)
    except NumproxyError:
        pass  # the browser reconnects (retry:) and resumes from its last cursor
    finally:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(_END)


async def _stream(console: Console, after: int, sid: str, coalesce: bool) -> AsyncIterator[str]:
    queue: asyncio.Queue[event_pb2.Event | None] = asyncio.Queue(QUEUE_SIZE)
    console.open_streams += 1
    pump = asyncio.create_task(_pump(console, queue, after, sid))
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event is _END:
                return
            if coalesce:
                ended = False
                while not queue.empty() and not ended:  # one reload per burst
                    following = queue.get_nowait()
                    ended = following is _END
                    event = event if following is None else following
                yield f"id: {event.cursor}\nevent: changed\ndata: {event.cursor}\n\n"
                if ended:
                    return
            else:
                data = json.dumps(event_json(event))
                yield f"id: {event.cursor}\nevent: event\ndata: {data}\n\n"
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        console.open_streams -= 1


def _response(request: Request, ctx: Context, sid: str, coalesce: bool) -> Response:
    console = ctx.console
    if console.open_streams >= console.settings.max_streams:
        raise HttpError(503, "Too many live views open; try again later.")
    return StreamingResponse(
        _stream(console, _cursor(request), sid, coalesce),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


@endpoint(stream=True)
async def session_stream(request: Request, ctx: Context) -> Response:
    sid = session_id(request)
    await ctx.console.router.get_session(sid)  # 404 for an unknown session
    return _response(request, ctx, sid, coalesce=True)


@endpoint(stream=True)
async def events_stream(request: Request, ctx: Context) -> Response:
    return _response(request, ctx, "", coalesce=False)
