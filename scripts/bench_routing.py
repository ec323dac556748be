"""Routing benchmark: inbound lookup and CreateSession latency at growing session counts.

Loads N active sessions (bulk inserts in chunks) into a migrated SQLite file and a private
PostgreSQL cluster, then measures, at each size:
- inbound lookup: what the inbound pipeline's session lookup runs per batch
  (numproxy.router.store.queries.find_sessions: the active participant by (sender real number,
  proxy number), its session locked), for a batch of one in its own transaction;
- CreateSession: the domain call (allocation, inserts, commit);
- the RSS of a router process serving the database after a burst of API calls.
It prints p50/p99 per size and the largest/smallest-size ratio. A benchmark, not a test.

    .venv/bin/python scripts/bench_routing.py                       # 10k and 1M, both backends
    .venv/bin/python scripts/bench_routing.py --sizes 10000,100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import grpc  # noqa: E402
from sqlalchemy import text  # noqa: E402

from numproxy.common.grpc_client import open_channel  # noqa: E402
from numproxy.router.clock import SystemClock  # noqa: E402
from numproxy.router.sessions.pools import Pools, PoolSpec  # noqa: E402
from numproxy.router.sessions.sessions import ParticipantSpec, Sessions, SessionSpec  # noqa: E402
from numproxy.router.store import queries  # noqa: E402
from numproxy.router.store.dialect import create_engine, session_factory  # noqa: E402
from numproxy.router.store.migrations import upgrade  # noqa: E402
from numproxy.v1 import session_pb2, session_pb2_grpc  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402
from tests.support.router_sessions import router_process  # noqa: E402

CHUNK = 50_000
NOW = datetime.now(UTC)
FAR = NOW + timedelta(days=365)


def real_number(index: int) -> str:
    return f"+1{2_000_000_000 + index}"


def proxy_number(index: int) -> str:
    return f"+1{9_000_000_000 + index}"


@dataclass
class Backend:
    name: str
    url: str
    loaded: int = 0


@dataclass
class Figures:
    backend: str
    size: int
    load_seconds: float
    lookup: list[float]
    create: list[float]
    rss_mib: float


async def load_postgres(backend: Backend, pool_key: int, proxy_ids: list[int], target: int) -> None:
    dsn = backend.url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        # Per-row usage triggers would rewrite the few proxy_number rows millions of times in
        # one transaction; load without them and recount once.
        await conn.execute("ALTER TABLE participant DISABLE TRIGGER USER")
        for start in range(backend.loaded, target, CHUNK):
            stop = min(start + CHUNK, target)
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "session",
                    columns=[
                        "id",
                        "pool_id",
                        "status",
                        "ttl_seconds",
                        "idle_expires_at",
                        "metadata",
                        "created_at",
                        "updated_at",
                    ],
                    records=[
                        (
                            str(uuid.UUID(int=i + 1)),
                            pool_key,
                            "OPEN",
                            31_536_000,
                            FAR,
                            "{}",
                            NOW,
                            NOW,
                        )
                        for i in range(start, stop)
                    ],
                )
                await conn.copy_records_to_table(
                    "participant",
                    columns=[
                        "session_id",
                        "position",
                        "number",
                        "proxy_number_id",
                        "display_name",
                        "active",
                    ],
                    records=[
                        (
                            str(uuid.UUID(int=i + 1)),
                            side,
                            real_number(2 * i + side),
                            proxy_ids[(i + side) % len(proxy_ids)],
                            "",
                            True,
                        )
                        for i in range(start, stop)
                        for side in (0, 1)
                    ],
                )
        await conn.execute("ALTER TABLE participant ENABLE TRIGGER USER")
        await conn.execute(
            "UPDATE proxy_number SET active_participants = (SELECT count(*) FROM participant p"
            " WHERE p.proxy_number_id = proxy_number.id AND p.active)"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    backend.loaded = target


def load_sqlite(backend: Backend, pool_key: int, proxy_ids: list[int], target: int) -> None:
    path = backend.url.removeprefix("sqlite+aiosqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    stamp = lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")  # noqa: E731  SQLAlchemy's format
    try:
        for start in range(backend.loaded, target, CHUNK):
            stop = min(start + CHUNK, target)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO session (id, pool_id, status, ttl_seconds, idle_expires_at,"
                " metadata, created_at, updated_at) VALUES (?, ?, 'OPEN', 31536000, ?, '{}', ?, ?)",
                (
                    (str(uuid.UUID(int=i + 1)), pool_key, stamp(FAR), stamp(NOW), stamp(NOW))
                    for i in range(start, stop)
                ),
            )
            conn.executemany(
                "INSERT INTO participant (session_id, position, number, proxy_number_id,"
                " display_name, active) VALUES (?, ?, ?, ?, '', 1)",
                (
                    (
                        str(uuid.UUID(int=i + 1)),
                        side,
                        real_number(2 * i + side),
                        proxy_ids[(i + side) % len(proxy_ids)],
                    )
                    for i in range(start, stop)
                    for side in (0, 1)
                ),
            )
            conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    backend.loaded = target


class Probe:
    """The measured calls against one loaded database."""

    def __init__(self, backend: Backend, pool_size: int) -> None:
        self.size = backend.loaded
        self.pool_size = pool_size
        self.engine = create_engine(backend.url)
        self.factory = session_factory(self.engine)
        self.clock = SystemClock()
        self.sessions = Sessions(self.factory, self.clock)
        self.rng = random.Random(self.size)
        self.created = 0
        self.lookups: list[float] = []
        self.creates: list[float] = []

    async def lookup(self) -> None:
        i = self.rng.randrange(self.size)
        side = self.rng.randrange(2)
        sender, proxy = real_number(2 * i + side), proxy_number((i + side) % self.pool_size)
        began = time.perf_counter()
        async with self.engine.begin() as conn:
            found = await queries.find_sessions(conn, [(sender, proxy)])
        self.lookups.append((time.perf_counter() - began) * 1000)
        assert found

    async def create(self) -> None:
        base = 100_000_000 + 2 * self.created
        self.created += 1
        spec = SessionSpec(
            participants=[
                ParticipantSpec(real_number(base)),
                ParticipantSpec(real_number(base + 1)),
            ],
            pool="bench",
        )
        began = time.perf_counter()
        await self.sessions.create_session(spec)
        self.creates.append((time.perf_counter() - began) * 1000)


async def measure(probes: list[Probe], samples: int) -> None:
    """Alternate between the databases sample by sample, so load from anything else running
    on the machine falls on every size alike."""
    for _ in range(20):  # warm caches and connections
        for probe in probes:
            await probe.lookup()
    for probe in probes:
        probe.lookups.clear()
    for _ in range(samples):
        for probe in probes:
            await probe.lookup()
    for _ in range(max(samples // 4, 50)):
        for probe in probes:
            await probe.create()


async def router_rss(backend: Backend) -> float:
    """RSS (MiB) of a router process serving this database after a burst of API calls."""
    with router_process(backend.url, NUMPROXY_ROUTER_LOG_LEVEL="WARNING") as router:
        await router.wait_serving(60)
        channel = open_channel(router.address, router.tls)
        try:
            stub = session_pb2_grpc.SessionServiceStub(channel)
            for n in range(200):
                await stub.ListSessions(session_pb2.ListSessionsRequest(page_size=100))
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.GetSession(
                        session_pb2.GetSessionRequest(name=str(uuid.UUID(int=n + 1)))
                    )
        finally:
            await channel.close(grace=None)
        status = await asyncio.to_thread(Path(f"/proc/{router.process.pid}/status").read_text)
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return rss_kib / 1024


async def prepare(backend: Backend, pool_size: int) -> tuple[int, list[int]]:
    await asyncio.to_thread(upgrade, backend.url)
    engine = create_engine(backend.url)
    try:
        pools = Pools(session_factory(engine), SystemClock())
        await pools.create_pool("bench", PoolSpec())
        for start in range(0, pool_size, 1000):
            await pools.add_numbers(
                "bench", [proxy_number(i) for i in range(start, min(start + 1000, pool_size))]
            )
        async with engine.connect() as conn:
            pool_key = (await conn.execute(text("SELECT id FROM pool"))).scalar_one()
            rows = await conn.execute(text("SELECT number, id FROM proxy_number"))
            by_number = dict(rows.all())
    finally:
        await engine.dispose()
    return pool_key, [by_number[proxy_number(i)] for i in range(pool_size)]


async def run_backend(
    name: str,
    new_url: Callable[[int], str],
    sizes: list[int],
    samples: int,
    pool_size: int,
    with_rss: bool,
) -> list[Figures]:
    """One database per size (loaded up front), then interleaved measurements."""
    backends, load_times, probes = [], [], []
    for size in sizes:
        backend = Backend(name, new_url(size))
        pool_key, proxy_ids = await prepare(backend, pool_size)
        began = time.perf_counter()
        if name == "postgres":
            await load_postgres(backend, pool_key, proxy_ids, size)
        else:
            await asyncio.to_thread(load_sqlite, backend, pool_key, proxy_ids, size)
        load_times.append(time.perf_counter() - began)
        print(f"[{name}] loaded {size:,} sessions ({load_times[-1]:.0f}s)", flush=True)
        backends.append(backend)
    try:
        probes = [Probe(backend, pool_size) for backend in backends]
        await measure(probes, samples)
    finally:
        for probe in probes:
            await probe.engine.dispose()
    results = []
    for backend, probe, load_seconds in zip(backends, probes, load_times, strict=True):
        rss = await router_rss(backend) if with_rss else float("nan")
        results.append(
            Figures(name, backend.loaded, load_seconds, probe.lookups, probe.creates, rss)
        )
    return results


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(figures: list[Figures]) -> None:
    print()
    print(
        f"{'backend':9} {'sessions':>10} {'lookup p50':>11} {'lookup p99':>11} "
        f"{'create p50':>11} {'create p99':>11} {'router RSS':>11}"
    )
    for f in figures:
        print(
            f"{f.backend:9} {f.size:>10,} {percentile(f.lookup, 50):>9.2f}ms"
            f" {percentile(f.lookup, 99):>9.2f}ms {percentile(f.create, 50):>9.2f}ms"
            f" {percentile(f.create, 99):>9.2f}ms {f.rss_mib:>8.1f}MiB"
        )
    print()
    for backend in dict.fromkeys(f.backend for f in figures):
        rows = [f for f in figures if f.backend == backend]
        small, large = rows[0], rows[-1]
        if small is large:
            continue
        lookup = percentile(large.lookup, 50) / percentile(small.lookup, 50)
        create = percentile(large.create, 50) / percentile(small.create, 50)
        print(
            f"{backend}: {large.size:,}/{small.size:,} p50 ratio: lookup {lookup:.2f}, "
            f"create {create:.2f} (target <= 1.2); router RSS "
            f"{large.rss_mib - small.rss_mib:+.1f}MiB"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--samples", type=int, default=2000, help="lookups per size")
    parser.add_argument("--pool-numbers", type=int, default=100)
    parser.add_argument("--no-rss", action="store_true", help="skip the router process")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    figures: list[Figures] = []
    workdir = Path(tempfile.mkdtemp(prefix="numproxy-bench-"))
    try:
        for name in args.backends.split(","):
            if name == "sqlite":
                figures += await run_backend(
                    name,
                    lambda size: f"sqlite+aiosqlite:///{workdir}/bench-{size}.db",
                    sizes,
                    args.samples,
                    args.pool_numbers,
                    not args.no_rss,
                )
            elif name == "postgres":
                with running_postgres() as server:

                    def new_database(size: int) -> str:
                        server.psql(f"CREATE DATABASE bench_{size}")
                        return server.url(f"bench_{size}")

                    figures += await run_backend(
                        name,
                        new_database,
                        sizes,
                        args.samples,
                        args.pool_numbers,
                        not args.no_rss,
                    )
            else:
                parser.error(f"unknown backend {name!r}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(figures)


if __name__ == "__main__":
    asyncio.run(main())
