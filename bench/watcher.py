"""A connected event watcher for the benchmark:
``python -m bench.watcher ROUTER AFTER OUT [PROBE_SESSION]``.

Watches every event after cursor AFTER through the typed client, as an app would, and keeps
two measures:

- for every event, how long after its ``create_time`` it arrived (``create_time`` is when its
  transaction started, so this includes the writing transaction itself);
- for probes (with PROBE_SESSION): every ``PROBE_INTERVAL`` it changes PROBE_SESSION's
  ttl (UpdateSession) and notes when the request left and when the answer came; the
  change's commit lies between the two, so "answer -> the watcher has the event" and
  "request -> the watcher has it" bracket the commit-to-watcher latency. Probes are
  sequential and cursors follow commit order, so the n-th SESSION_UPDATED event of that
  session is the n-th probe.

On SIGTERM it writes JSON ``{"samples": [[created_s, latency_ms], ...], "probes": [[sent_s,
answered_s, received_s], ...]}`` to OUT and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from numproxy.client import NumproxyClient, session_name
from numproxy.v1 import event_pb2

PROBE_INTERVAL = 0.1


async def watch(router: str, after: int, out: Path, probe_session: str) -> None:
    samples: list[tuple[float, float]] = []
    sent: list[tuple[float, float]] = []
    received: list[float] = []
    probed = session_name(probe_session) if probe_session else ""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with NumproxyClient(router) as client:

        async def follow() -> None:
            async for event in client.watch_events(after_cursor=after, reconnect=True):
                now = time.time()
                created = event.create_time.seconds + event.create_time.nanos / 1e9
                samples.append((created, (now - created) * 1000))
                if event.session == probed and event.type == event_pb2.EVENT_TYPE_SESSION_UPDATED:
                    received.append(now)

        async def probe() -> None:
            for n in range(1, 10**9):
                began = time.time()
                await client.update_session(probe_session, ttl=86_400 + n)
                sent.append((began, time.time()))
                await asyncio.sleep(PROBE_INTERVAL)

        tasks = [asyncio.create_task(follow())]
        if probe_session:
            tasks.append(asyncio.create_task(probe()))
        await stop.wait()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    probes = [[*times, got] for times, got in zip(sent, received, strict=False)]
    result = {"samples": samples, "probes": probes}
    await asyncio.to_thread(out.write_text, json.dumps(result))


def visibility(out: Path, start: float, end: float) -> dict[str, list[float]]:
    """Sorted latencies (ms) of what was written in [start, end]: ``answer`` (probe answered
    -> watcher; 0 when the event came first), ``request`` (probe sent -> watcher) and
    ``transaction`` (an event's transaction start -> watcher, every event)."""
    data: dict[str, Any] = json.loads(out.read_text())
    probes = [p for p in data["probes"] if start <= p[0] <= end]
    return {
        "answer": sorted(max(0.0, (got - answered) * 1000) for _, answered, got in probes),
        "request": sorted((got - began) * 1000 for began, _, got in probes),
        "transaction": sorted(ms for created, ms in data["samples"] if start <= created <= end),
    }


def main() -> None:
    from numproxy.common.eventloop import run

    router, after, out, *probe = sys.argv[1:]
    run(watch(router, int(after), Path(out), probe[0] if probe else ""))


if __name__ == "__main__":
    main()
