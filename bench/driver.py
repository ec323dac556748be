"""The load driver: acts as Vonage, sending GET inbound-SMS webhooks to 127.0.0.1.

Runs as its own process (``python -m bench.driver SPEC_JSON``) so its CPU is measured apart
from the services and its event loop is not disturbed by the orchestrator. It prints one JSON
object (the figures) on stdout.

A minimal HTTP/1.1 keep-alive client over asyncio protocols on uvloop: one connection per
worker, one request in flight per connection. Two modes:

- closed loop (``rate`` 0): ``concurrency`` workers send back to back (the maximum);
- open loop (``rate`` > 0): requests are scheduled at a fixed rate, spread over the workers;
  latency is measured from each request's scheduled time, so a stalled server is not hidden
  by the driver waiting for it (no coordinated omission).

Every webhook carries a unique ``messageId`` and, in its text, the wall-clock nanosecond it
was sent, so the simulator's outbox yields the end-to-end latency (webhook in -> provider
accepted). Bounded by time (``warmup`` + ``duration``) and by ``max_messages``.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sys
import time
from array import array
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlsplit

import uvloop

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class Pairs:
    """Which (sender real number, proxy number) pairs the webhooks use.

    ``kind`` "sessions": either participant of any of ``sessions`` loaded sessions, at random
    (scripts/bench_routing.py numbering, ``pool_numbers`` proxy numbers; the naive forwarder
    builds the same pairs in memory); "busy": one conversation, every webhook from the first
    session's first participant to its proxy number (one session row takes every message).
    """

    kind: str = "sessions"
    sessions: int = 10_000
    pool_numbers: int = 100

    def __post_init__(self) -> None:
        if self.kind not in ("sessions", "busy"):
            raise ValueError(f"unknown pairs kind {self.kind!r}")

    def pick(self, rng: random.Random) -> tuple[str, str]:
        if self.kind == "busy":
            return f"1{2_000_000_000}", f"1{9_000_000_000}"
        i = rng.randrange(self.sessions)
        side = rng.randrange(2)
        sender = 2_000_000_000 + 2 * i + side
        proxy = 9_000_000_000 + (i + side) % self.pool_numbers
        return f"1{sender}", f"1{proxy}"


@dataclass(frozen=True)
class Spec:
    url: str  # http://127.0.0.1:PORT/webhooks/inbound-sms
    concurrency: int = 64
    rate: float = 0.0  # 0 = closed loop (as fast as the server answers)
    warmup: float = 2.0
    duration: float = 10.0
    max_messages: int = 2_000_000
    pairs: Pairs = field(default_factory=Pairs)
    seed: int = 1
    # "webhook": GET inbound-sms; "sms": POST /sms/json form (the simulator on its own).
    kind: str = "webhook"

    @classmethod
    def from_json(cls, raw: str) -> Spec:
        data = json.loads(raw)
        data["pairs"] = Pairs(**data.get("pairs", {}))
        return cls(**data)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._status = 0
        self._need = -1  # bytes still expected (header end + body), -1: headers not complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they have its methods.
        self.transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._need = -1
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                stop = head.find(b"\r\n", marker)
                length = int(head[marker + 15 : stop if stop >= 0 else None])
            self._need = end + 4 + length
        if len(self._buffer) >= self._need and self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result(self._status)


@dataclass
class _Tally:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    sent: int = 0


class Driver:
    def __init__(self, spec: Spec) -> None:
        parts = urlsplit(spec.url)
        if parts.hostname != LOCALHOST:
            raise SystemExit(f"the load driver only sends to {LOCALHOST}, not {parts.hostname}")
        self.spec = spec
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path
        self._tag = secrets.token_hex(4).upper()
        self._counter = 0
        self._rng = random.Random(spec.seed)
        self._budget = spec.max_messages
        self.warm = _Tally()
        self.measured = _Tally()

    def _next_request(self) -> bytes:
        self._counter += 1
        sender, proxy = self.spec.pairs.pick(self._rng)
        if self.spec.kind == "sms":
            body = (
                f"api_key=simkey&api_secret=simsecret&from={proxy}&to={sender}"
                f"&text=bench+{self._counter}&client-ref=b{self._counter}"
            ).encode()
            return (
                f"POST {self._path} HTTP/1.1\r\nHost: {self._host}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        message_id = f"{self._tag}{self._counter:012X}"
        text = quote(f"bench {self._counter} {time.time_ns()}")
        query = (
            f"msisdn={sender}&to={proxy}&messageId={message_id}&text={text}&type=text"
            f"&keyword=BENCH&api-key=simkey&message-timestamp=2024-01-01+00%3A00%3A00"
        )
        return f"GET {self._path}?{query} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self._host, self._port)
        return protocol

    async def _worker(self, index: int, start: float, warm_end: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        conn = await self._connect()
        interval = self.spec.concurrency / self.spec.rate if self.spec.rate else 0.0
        # Open loop: this worker's share of the schedule, offset so workers interleave.
        due = start + index * interval / self.spec.concurrency
        while self._budget > 0:
            now = loop.time()
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                began = due
                due += interval
            else:
                began = now
            if began >= end:
                break
            self._budget -= 1
            tally = self.warm if began < warm_end else self.measured
            tally.sent += 1
            try:
                status = await conn.request(self._next_request())
            except ConnectionError:
                tally.errors += 1
                conn = await self._connect()
                continue
            done = loop.time()
            tally.latencies.append((done - began) * 1000)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if conn.transport is not None:
            conn.transport.close()

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        warm_end = start + self.spec.warmup
        end = warm_end + self.spec.duration
        wall_start = time.time() + 0.2
        workers = [
            asyncio.create_task(self._worker(i, start, warm_end, end))
            for i in range(self.spec.concurrency)
        ]
        await asyncio.gather(*workers)
        finished = loop.time()
        measured = self.measured
        ordered = sorted(measured.latencies)
        elapsed = min(finished, end) - warm_end
        return {
            "spec": asdict(self.spec),
            "window": [wall_start + self.spec.warmup, wall_start + self.spec.warmup + elapsed],
            "sent": measured.sent,
            "answered": len(ordered),
            "errors": measured.errors,
            "statuses": {str(k): v for k, v in sorted(measured.statuses.items())},
            "ack_per_s": len(ordered) / elapsed if elapsed > 0 else 0.0,
            "ack_ms": percentiles(ordered),
            "warmup_sent": self.warm.sent,
        }


def percentiles(ordered: list[float] | array[float]) -> dict[str, float]:
    """p50/p95/p99/max of already sorted values (NaN when empty)."""
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": float(ordered[-1])}


def main() -> None:
    spec = Spec.from_json(sys.argv[1])
    result = uvloop.run(Driver(spec).run())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
