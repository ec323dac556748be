"""The one way an HTTP service (gateway, simulator) runs: uvicorn serving a Starlette app.

uvicorn handles SIGTERM/SIGINT itself: it stops accepting, lets in-flight requests finish
within ``grace`` seconds, then runs the app's shutdown (lifespan) hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

from numproxy.common.ports import ensure_free


def make_server(app: ASGIApp, host: str, port: int, grace: float) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep the service's own logging configuration
        access_log=False,
        timeout_graceful_shutdown=max(int(grace), 1),
        lifespan="on",
        server_header=False,
    )
    return uvicorn.Server(config)


async def serve_http(app: ASGIApp, host: str, port: int, grace: float) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully and return. A taken port raises
    :class:`PortInUse` (uvicorn would log the error and exit)."""
    ensure_free(host, port)
    with _absorb_replayed_signals():
        try:
            await make_server(app, host, port, grace).serve()
        except SystemExit:
            ensure_free(host, port)  # taken in between: say so
            raise


@contextlib.contextmanager
def _absorb_replayed_signals() -> Iterator[None]:
    # After its graceful shutdown uvicorn re-raises the signal against the handler that was
    # installed before it started; with the default handler that would kill the process
    # before the caller closes its clients. A no-op handler lets serve_http return instead.
    if threading.current_thread() is not threading.main_thread():
        yield  # uvicorn installs no signal handlers off the main thread either
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.asynccontextmanager
async def running_http(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Run ``app`` in this event loop for tests; yields the bound port."""
    server = make_server(app, host, port, grace=1.0)
    task = asyncio.create_task(server._serve())  # no signal handlers: the test owns the loop
    while not server.started:
        if task.done():
            task.result()  # surfaces the start-up error
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield int(bound)
    finally:
        server.should_exit = True
        await task
