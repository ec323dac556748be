"""The benchmark suite (``make bench``): every run on this machine, figures as a table and JSON.

Runs, in order, each with the load driver as its own process on 127.0.0.1:
1. the simulator alone (``/sms/json`` as fast as it answers: it must never be the limit);
2. baseline (a): the naive single-process forwarder (bench/naive.py);
3. baseline (b): the hop floor, gateway -> router -> sender doing no database or provider
   work (bench/hop_floor.py);
4. numproxy on PostgreSQL (durable: fsync and synchronous_commit on) with 10k active sessions:
   the maximum (closed loop), then half of it (open loop) for the acknowledgement latency;
5. the same with one busy conversation: one session in its own database, every webhook from
   the same sender to the same proxy number (all messages lock and update one session row);
6. the same with 1M active sessions (bulk-loaded by scripts/bench_routing.py's loader; its
   half run uses the 10k half rate);
7. numproxy on SQLite with 10k active sessions, then with one busy conversation (its own
   database file);
8. the event stream on PostgreSQL with 10k active sessions: the maximum without a watcher,
   the maximum with a watcher connected (bench/watcher.py, every event), and half of the
   first with the watcher, for how soon each event reaches it;
9. tracing on SQLite with 10k active sessions: the maximum with tracing off, then with every
   span exported over OTLP to a collector in this process (docs/operations.md).

The router and the sender serve their metrics in every numproxy run, as the chart runs them.
The PostgreSQL runs share one cluster, each scenario its own database, with a CHECKPOINT
before each so that one scenario's dirty pages are not flushed during the next. After the
tables the report prints the targets verdict (bench/report.py), also in the JSON
(``targets``).

``--only`` takes a comma-separated list of: ``sim``, ``naive``, ``floor``, ``pg`` (10k and
1M sessions), ``pg-busy``, ``sqlite`` (10k sessions), ``sqlite-busy``, ``events``,
``tracing``; all of them by default.

    python -m bench                 # the full suite (under 10 minutes)
    python -m bench --quick         # shorter runs, 100k instead of 1M sessions
    python -m bench --only naive,pg-busy,sqlite-busy
    python -m bench --quick --only events
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.driver import Pairs, Spec, percentiles
from bench.measure import RunFigures, measure
from bench.processes import BENCH_ENV, Proc, module, service
from bench.procs import Tracked, postmaster_pid
from bench.report import EVENTS_ALONE, EVENTS_HALF, EVENTS_WATCHED, print_report, targets
from bench.watcher import visibility
from numproxy.cli.stack import SERVICES, STOP_ORDER, StackConfig
from numproxy.client import TLS_DIR_ENV
from scripts.bench_routing import Backend, load_postgres, load_sqlite, prepare
from tests.support.otlp_receiver import otlp_receiver
from tests.support.postgres import PostgresServer, free_port, running_postgres
from tests.support.tls import shared_ca_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
POOL_NUMBERS = 100
# One conversation: session 0's first participant texting its proxy number (driver.Pairs).
BUSY = Pairs(kind="busy", sessions=1, pool_numbers=POOL_NUMBERS)
SELECTORS = (
    "sim", "naive", "floor", "pg", "pg-busy", "sqlite", "sqlite-busy", "events", "tracing"
)  # fmt: skip


@dataclass(frozen=True)
class Plan:
    warmup: float
    duration: float
    half_duration: float
    concurrency: int
    small: int
    large: int

    @classmethod
    def full(cls) -> Plan:
        return cls(warmup=3, duration=15, half_duration=12, concurrency=64, small=10_000,
                   large=1_000_000)  # fmt: skip

    @classmethod
    def quick(cls) -> Plan:
        return cls(warmup=2, duration=6, half_duration=5, concurrency=64, small=10_000,
                   large=100_000)  # fmt: skip


def free_config(database_url: str) -> StackConfig:
    return StackConfig(
        database_url=database_url,
        gateway_port=free_port(),
        router_port=free_port(),
        sender_port=free_port(),
        simulator_port=free_port(),
        tls_dir=shared_ca_dir(),  # mTLS between the services, as deployed
    )


def metrics_on(name: str) -> dict[str, str]:
    """The router's and the sender's metrics served, as the chart runs them (their counters
    are on the measured path; nothing scrapes them)."""
    if name not in ("router", "sender"):
        return {}
    return {f"NUMPROXY_{name.upper()}_METRICS_PORT": str(free_port())}


@contextlib.asynccontextmanager
async def started(procs: list[Proc], stop_order: tuple[str, ...] = ()) -> AsyncIterator[list[Proc]]:
    """Start ``procs`` in order; stop them afterwards in ``stop_order`` (names), the rest in
    reverse order."""
    running: list[Proc] = []
    try:
        for proc in procs:
            await proc.start()
            running.append(proc)
        yield procs
    finally:
        ranked = sorted(
            reversed(running),
            key=lambda p: stop_order.index(p.name) if p.name in stop_order else len(stop_order),
        )
        for proc in ranked:
            await proc.stop()


def tracked(procs: list[Proc]) -> list[Tracked]:
    return [Tracked(p.name, p.pid) for p in procs]


class Suite:
    def __init__(self, plan: Plan, workdir: Path, profile_dir: Path | None = None) -> None:
        self.plan = plan
        self.profile_dir = profile_dir
        self.workdir = workdir
        self.logdir = workdir / "logs"
        self.logdir.mkdir()
        self.runs: dict[str, RunFigures] = {}

    def spec(self, url: str, *, pairs: Pairs, rate: float = 0.0, kind: str = "webhook") -> Spec:
        return Spec(
            url=url,
            concurrency=self.plan.concurrency,
            rate=rate,
            warmup=self.plan.warmup,
            duration=self.plan.half_duration if rate else self.plan.duration,
            pairs=pairs,
            kind=kind,
        )

    def sessions(self, count: int) -> Pairs:
        return Pairs(sessions=count, pool_numbers=POOL_NUMBERS)

    def record(self, figures: RunFigures) -> RunFigures:
        self.runs[figures.name] = figures
        ack = figures.ack_ms
        print(
            f"  {figures.name}: {figures.forwarded_per_s:,.0f} forwarded/s, "
            f"{figures.ack_per_s:,.0f} acked/s, ack p50/p99 {ack['p50']:.1f}/{ack['p99']:.1f} ms"
            + (f", errors {figures.errors}" if figures.errors else ""),
            flush=True,
        )
        return figures

    async def simulator_alone(self) -> None:
        print("simulator alone", flush=True)
        config = free_config("sqlite+aiosqlite:///unused.db")
        sim = service("simulator", config, self.logdir)
        async with started([sim]) as procs:
            spec = self.spec(
                f"{config.simulator_url}/sms/json", pairs=self.sessions(self.plan.small)
            )
            spec = Spec(**{**spec.__dict__, "kind": "sms"})
            figures = await measure(
                "simulator alone", spec, tracked(procs), config.simulator_url, e2e=False
            )
        self.record(figures)

    async def naive(self) -> None:
        print("baseline (a): naive forwarder", flush=True)
        config = free_config("sqlite+aiosqlite:///unused.db")
        port = free_port()
        sim = service("simulator", config, self.logdir)
        naive = module(
            "naive",
            [
                "bench.naive",
                str(port),
                config.simulator_url,
                str(self.plan.small),
                str(POOL_NUMBERS),
            ],
            os.environ,
            self.logdir,
            f"http://127.0.0.1:{port}/healthz",
        )
        async with started([sim, naive]) as procs:
            spec = self.spec(
                f"http://127.0.0.1:{port}/webhooks/inbound-sms",
                pairs=self.sessions(self.plan.small),
            )
            self.record(
                await measure(
                    "naive forwarder",
                    spec,
                    tracked(procs),
                    config.simulator_url,
                    profile_dir=self.profile_dir,
                )
            )

    async def hop_floor(self) -> None:
        print("baseline (b): hop floor", flush=True)
        config = free_config("sqlite+aiosqlite:///unused.db")
        env = {**os.environ, **BENCH_ENV}
        env.update(config.service_env("router"))
        env.update(config.service_env("sender"))
        env["NUMPROXY_SENDER_RATE_LIMIT"] = "0"
        from numproxy.cli.stack import is_ready

        async def router_ready() -> bool:
            return await is_ready("router", config)

        async def sender_ready() -> bool:
            return await is_ready("sender", config)

        sender = Proc(
            "sender",
            [sys.executable, "-m", "bench.hop_floor", "sender"],
            env,
            self.logdir / "floor-sender.log",
            sender_ready,
        )
        router = Proc(
            "router",
            [sys.executable, "-m", "bench.hop_floor", "router"],
            env,
            self.logdir / "floor-router.log",
            router_ready,
        )
        gateway = service("gateway", config, self.logdir)
        async with started([sender, router, gateway]) as procs:
            spec = self.spec(
                f"{config.gateway_url}/webhooks/inbound-sms", pairs=self.sessions(self.plan.small)
            )
            self.record(
                await measure("hop floor", spec, tracked(procs), None, profile_dir=self.profile_dir)
            )

    async def numproxy(
        self,
        label: str,
        url: str,
        pairs: Pairs,
        extra: list[Tracked],
        half_rate: float | None = None,
    ) -> float:
        """Max and half-max runs of the real stack on ``url``; returns the half rate used."""
        config = free_config(url)
        procs = [service(name, config, self.logdir, **metrics_on(name)) for name in SERVICES]
        async with started(procs, stop_order=STOP_ORDER):
            watched = tracked(procs) + extra
            webhook = f"{config.gateway_url}/webhooks/inbound-sms"
            peak = self.record(
                await measure(
                    f"{label} max",
                    self.spec(webhook, pairs=pairs),
                    watched,
                    config.simulator_url,
                    profile_dir=self.profile_dir,
                )
            )
            rate = half_rate if half_rate is not None else round(peak.forwarded_per_s / 2)
            self.record(
                await measure(
                    f"{label} half",
                    self.spec(webhook, pairs=pairs, rate=rate),
                    watched,
                    config.simulator_url,
                )
            )
        return rate

    async def postgres(self, *, scale: bool, busy: bool) -> None:
        """``scale``: 10k then 1M sessions; ``busy``: one busy conversation (between the two,
        before the 1M load)."""
        with durable_postgres() as server:
            pg = [Tracked("postgres", postmaster_pid(server.datadir), with_children=True)]
            if scale:
                server.psql("CREATE DATABASE bench")
                backend = Backend("postgres", server.url("bench"))
                pool_key, proxy_ids = await prepare(backend, POOL_NUMBERS)
                print(f"numproxy, PostgreSQL, {self.plan.small:,} sessions", flush=True)
                await load_postgres(backend, pool_key, proxy_ids, self.plan.small)
                await asyncio.to_thread(server.psql, "CHECKPOINT")
                rate = await self.numproxy(f"pg {self.plan.small // 1000}k", backend.url,
                                           self.sessions(self.plan.small), pg)  # fmt: skip
            if busy:
                server.psql("CREATE DATABASE busy")
                one = Backend("postgres", server.url("busy"))
                one_key, one_ids = await prepare(one, POOL_NUMBERS)
                print("numproxy, PostgreSQL, one busy conversation", flush=True)
                await load_postgres(one, one_key, one_ids, 1)
                await asyncio.to_thread(server.psql, "CHECKPOINT")
                await self.numproxy("pg busy", one.url, BUSY, pg)
            if scale:
                began = time.perf_counter()
                await load_postgres(backend, pool_key, proxy_ids, self.plan.large)
                size = _size(self.plan.large)
                print(
                    f"numproxy, PostgreSQL, {self.plan.large:,} sessions "
                    f"(loaded in {time.perf_counter() - began:.0f}s)",
                    flush=True,
                )
                await asyncio.to_thread(server.psql, "CHECKPOINT")
                await self.numproxy(f"pg {size}", backend.url, self.sessions(self.plan.large),
                                    pg, half_rate=rate)  # fmt: skip

    async def events(self) -> None:
        """Forwarding with and without an event watcher connected, and the event visibility
        latency at half load (durable PostgreSQL, 10k sessions)."""
        with durable_postgres() as server:
            pg = [Tracked("postgres", postmaster_pid(server.datadir), with_children=True)]
            server.psql("CREATE DATABASE events")
            backend = Backend("postgres", server.url("events"))
            pool_key, proxy_ids = await prepare(backend, POOL_NUMBERS)
            print(f"event stream, PostgreSQL, {self.plan.small:,} sessions", flush=True)
            await load_postgres(backend, pool_key, proxy_ids, self.plan.small)
            await asyncio.to_thread(server.psql, "CHECKPOINT")
            config = free_config(backend.url)
            procs = [service(name, config, self.logdir, **metrics_on(name)) for name in SERVICES]
            pairs = self.sessions(self.plan.small)
            webhook = f"{config.gateway_url}/webhooks/inbound-sms"
            async with started(procs, stop_order=STOP_ORDER):
                watched = tracked(procs) + pg
                peak = self.spec(webhook, pairs=pairs)
                alone = self.record(
                    await measure(EVENTS_ALONE, peak, watched, config.simulator_url)
                )
                # The watcher only watches here: its probes would be extra work to compare.
                await self._watching(EVENTS_WATCHED, server, config, watched, peak, probe=False)
                half = self.spec(webhook, pairs=pairs, rate=round(alone.forwarded_per_s / 2))
                await self._watching(EVENTS_HALF, server, config, watched, half, probe=True)

    async def _watching(
        self,
        name: str,
        server: PostgresServer,
        config: StackConfig,
        watched: list[Tracked],
        spec: Spec,
        *,
        probe: bool,
    ) -> None:
        """One run with bench/watcher.py connected from the newest event on (``probe``: and
        probing one of the loaded sessions)."""
        newest, session = [
            (await asyncio.to_thread(server.psql, sql, "events")).strip()
            for sql in (
                "SELECT coalesce(max(seq), 0) FROM event",
                "SELECT id FROM session WHERE status != 'CLOSED' ORDER BY id LIMIT 1",
            )
        ]
        out = self.workdir / f"{name.replace(' ', '-').replace(',', '')}.json"
        watcher = module(
            "watcher",
            ["bench.watcher", config.router_address, newest, str(out)] + [session] * probe,
            {**os.environ, TLS_DIR_ENV: str(config.tls_dir)},
            self.logdir,
            None,
        )
        async with started([watcher]) as procs:
            figures = await measure(name, spec, watched + tracked(procs), config.simulator_url)
        for measure_name, values in visibility(out, *figures.window).items():
            ranks = percentiles(values)
            figures.event_ms[f"{measure_name}_p50"] = ranks["p50"]
            figures.event_ms[f"{measure_name}_p99"] = ranks["p99"]
            figures.event_ms[f"{measure_name}_count"] = float(len(values))
        self.record(figures)
        ms = figures.event_ms
        if not probe:
            return
        print(
            f"    event visibility p50/p99: answer -> watcher {ms['answer_p50']:.1f}/"
            f"{ms['answer_p99']:.1f} ms, request -> watcher {ms['request_p50']:.1f}/"
            f"{ms['request_p99']:.1f} ms ({ms['answer_count']:.0f} probes); transaction start "
            f"-> watcher {ms['transaction_p50']:.1f}/{ms['transaction_p99']:.1f} ms "
            f"({ms['transaction_count']:.0f} events)",
            flush=True,
        )

    async def sqlite(self) -> None:
        print(f"numproxy, SQLite, {self.plan.small:,} sessions", flush=True)
        backend = Backend("sqlite", f"sqlite+aiosqlite:///{self.workdir}/bench.db")
        pool_key, proxy_ids = await prepare(backend, POOL_NUMBERS)
        await asyncio.to_thread(load_sqlite, backend, pool_key, proxy_ids, self.plan.small)
        await self.numproxy(f"sqlite {self.plan.small // 1000}k", backend.url,
                            self.sessions(self.plan.small), [])  # fmt: skip

    async def sqlite_busy(self) -> None:
        print("numproxy, SQLite, one busy conversation", flush=True)
        backend = Backend("sqlite", f"sqlite+aiosqlite:///{self.workdir}/busy.db")
        pool_key, proxy_ids = await prepare(backend, POOL_NUMBERS)
        await asyncio.to_thread(load_sqlite, backend, pool_key, proxy_ids, 1)
        await self.numproxy("sqlite busy", backend.url, BUSY, [])

    async def tracing(self) -> None:
        """The maximum with tracing off, then on (every span exported over OTLP/HTTP to a
        collector in this process that only counts the exports)."""
        print(f"tracing off vs on, SQLite, {self.plan.small:,} sessions", flush=True)
        backend = Backend("sqlite", f"sqlite+aiosqlite:///{self.workdir}/tracing.db")
        pool_key, proxy_ids = await prepare(backend, POOL_NUMBERS)
        await asyncio.to_thread(load_sqlite, backend, pool_key, proxy_ids, self.plan.small)
        async with otlp_receiver(keep=False) as collector:
            on = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            }
            for label, env in (("tracing off", {}), ("tracing on", on)):
                config = free_config(backend.url)
                procs = [
                    service(name, config, self.logdir, **env, **metrics_on(name))
                    for name in SERVICES
                ]
                async with started(procs, stop_order=STOP_ORDER):
                    self.record(
                        await measure(
                            f"{label} max",
                            self.spec(
                                f"{config.gateway_url}/webhooks/inbound-sms",
                                pairs=self.sessions(self.plan.small),
                            ),
                            tracked(procs),
                            config.simulator_url,
                        )
                    )
            print(f"  collector received {collector.exports:,} OTLP exports", flush=True)


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


@contextlib.contextmanager
def durable_postgres() -> Iterator[PostgresServer]:
    """A private cluster restarted with PostgreSQL's durable defaults (the test helper turns
    fsync and synchronous_commit off for speed): the benchmark's commits reach the disk."""
    with running_postgres() as server:
        server.stop("fast")
        options = (
            f"-p {server.port} -k {server.datadir} -c listen_addresses={server.host}"
            " -c max_connections=300 -c shared_buffers=512MB"
            " -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        )
        server.pg_ctl("-o", options, "-l", str(server.datadir / "server.log"), "-w", "start")
        yield server


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = ""
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    mem = 0.0
    with contextlib.suppress(OSError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    commit = ""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem, 1),
        "os": os_name,
        "python": platform.python_version(),
        "commit": commit,
    }


async def main_async(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    only = set(args.only.split(",")) if args.only else set(SELECTORS)
    workdir = Path(tempfile.mkdtemp(prefix="numproxy-bench-"))
    suite = Suite(plan, workdir, args.profile)
    began = time.time()
    try:
        if "sim" in only:
            await suite.simulator_alone()
        if "naive" in only:
            await suite.naive()
        if "floor" in only:
            await suite.hop_floor()
        if "pg" in only or "pg-busy" in only:
            await suite.postgres(scale="pg" in only, busy="pg-busy" in only)
        if "sqlite" in only:
            await suite.sqlite()
        if "sqlite-busy" in only:
            await suite.sqlite_busy()
        if "events" in only:
            await suite.events()
        if "tracing" in only:
            await suite.tracing()
    finally:
        if args.keep:
            print(f"logs kept in {suite.logdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "machine": machine(),
        "plan": plan.__dict__,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(began)),
        "seconds": round(time.time() - began, 1),
        "runs": {name: figures.as_dict() for name, figures in suite.runs.items()},
    }
    result["targets"] = targets(result["runs"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.output) if args.output else RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nfigures written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 100k sessions")
    parser.add_argument("--only", help="comma-separated: " + ",".join(SELECTORS))
    parser.add_argument("--output", help="JSON file (default bench/results/<time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the services' logs")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy record every service of the max runs into DIR"
    )
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(SELECTORS) if args.only else set()
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    args.profile = Path(args.profile).resolve() if args.profile else None
    from numproxy.common.eventloop import run

    return run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
