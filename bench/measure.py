"""One measured run: drive load, sample the processes and the simulator, compute figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.driver import Spec, percentiles
from bench.procs import Tracked, Usage, machine_busy_seconds


@dataclass
class Sample:
    at: float  # wall clock
    accepted: int | None  # the simulator's messages_accepted counter
    usage: dict[str, Usage]
    busy: float  # the whole machine's CPU seconds


class Sampler:
    """Every ``interval`` seconds: the simulator's counter and each process's CPU and RSS."""

    def __init__(self, tracked: list[Tracked], sim_url: str | None, interval: float = 0.5):
        self.tracked = list(tracked)
        self.sim_url = sim_url
        self.interval = interval
        self.samples: list[Sample] = []
        self._http = httpx.AsyncClient(timeout=5.0)

    async def accepted(self) -> int | None:
        if self.sim_url is None:
            return None
        reply = await self._http.get(f"{self.sim_url}/_sim/stats")
        return int(reply.json()["messages_accepted"])

    async def sample(self) -> Sample:
        accepted = await self.accepted()
        usage = {t.name: t.sample() for t in self.tracked}
        one = Sample(time.time(), accepted, usage, machine_busy_seconds())
        self.samples.append(one)
        return one

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.interval)

    def around(self, start: float, end: float) -> tuple[Sample, Sample]:
        """The first and last samples inside [start, end] (the closest ones if none are)."""
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) >= 2:
            return inside[0], inside[-1]
        return self.samples[0], self.samples[-1]

    async def aclose(self) -> None:
        await self._http.aclose()


@dataclass
class RunFigures:
    name: str
    spec: dict[str, Any]
    forwarded_per_s: float
    ack_per_s: float
    ack_ms: dict[str, float]
    e2e_ms: dict[str, float]
    errors: int
    statuses: dict[str, int]
    cpu_s_per_1k: dict[str, float]
    cores_used: dict[str, float]
    rss_mib: dict[str, float]
    peak_rss_mib: dict[str, float]
    rss_growth_mib: dict[str, float]  # RSS at the window's end minus at its start
    backlog: int = 0  # forwarded after the load stopped (queued at the end of the window)
    notes: list[str] = field(default_factory=list)
    window: list[float] = field(default_factory=list)  # the measured [start, end], wall clock
    # Event visibility at a connected watcher (bench/watcher.py), ms: p50/p95/p99/max, count.
    event_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def drive(spec: Spec, sampler: Sampler) -> dict[str, Any]:
    """Run the load driver as a process (tracked as "driver") and return its figures."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.driver",
        json.dumps(asdict(spec)),
        stdout=asyncio.subprocess.PIPE,
    )
    sampler.tracked.append(Tracked("driver", process.pid))
    out, _ = await process.communicate()
    sampler.tracked = [t for t in sampler.tracked if t.name != "driver"]
    if process.returncode != 0:
        raise RuntimeError(f"load driver failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


async def drain(sampler: Sampler, quiet: float = 1.5, timeout: float = 120.0) -> int | None:
    """Wait until the simulator's counter stopped moving; its final value."""
    if sampler.sim_url is None:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = await sampler.accepted()
    stable_since = loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.25)
        now = await sampler.accepted()
        if now != last:
            last, stable_since = now, loop.time()
        elif loop.time() - stable_since >= quiet:
            break
    return last


async def end_to_end(sim_url: str, start: float, end: float) -> list[float]:
    """Webhook sent -> provider accepted (ms), for the outbox entries sent in [start, end];
    clears the simulator's outbox afterwards."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=60.0) as client:
        records = (await client.get("/_sim/outbox")).json()
        await client.delete("/_sim/outbox")
    latencies = []
    for record in records:
        words = str(record.get("text", "")).split()
        if len(words) != 3 or words[0] != "bench":
            continue
        sent = int(words[2]) / 1e9
        if start <= sent <= end:
            latencies.append((float(record["time"]) - sent) * 1000)
    latencies.sort()
    return latencies


async def profile(
    tracked: list[Tracked], spec: Spec, outdir: Path, run: str
) -> list[asyncio.subprocess.Process]:
    """py-spy record each service (not PostgreSQL) over the measured window: collapsed stacks
    in ``outdir/<run>-<service>.txt`` (flamegraph.pl or speedscope read them)."""
    await asyncio.to_thread(outdir.mkdir, parents=True, exist_ok=True)
    slug = run.replace(" ", "-")
    spies = []
    for one in tracked:
        if one.with_children:
            continue
        argv = ["py-spy", "record", "--pid", str(one.pid), "--rate", "200", "--format", "raw"]
        argv += ["--duration", str(int(spec.warmup + spec.duration)), "--nonblocking"]
        argv += ["-o", str(outdir / f"{slug}-{one.name}.txt")]
        spies.append(
            await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
        )
    return spies


async def measure(
    name: str,
    spec: Spec,
    tracked: list[Tracked],
    sim_url: str | None,
    *,
    e2e: bool = True,
    profile_dir: Path | None = None,
) -> RunFigures:
    """Drive ``spec`` against the running processes ``tracked``; count at ``sim_url`` (the
    simulator's accepted counter) or, with no simulator, the acknowledged webhooks."""
    sampler = Sampler(tracked, sim_url)
    await sampler.sample()
    task = asyncio.create_task(sampler.run())
    spies = await profile(tracked, spec, profile_dir, name) if profile_dir else []
    try:
        result = await drive(spec, sampler)
        for spy in spies:
            await spy.wait()
        start, end = result["window"]
        first, last = sampler.around(start, end)
        final = await drain(sampler)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sampler.aclose()
    elapsed = max(last.at - first.at, 1e-9)
    if first.accepted is not None and last.accepted is not None:
        forwarded = (last.accepted - first.accepted) / elapsed
    else:
        forwarded = float(result["ack_per_s"])
    messages = max(forwarded * elapsed, 1.0)
    names = [t.name for t in tracked] + ["driver"]
    cpu: dict[str, float] = {}
    cores: dict[str, float] = {}
    for key in names:
        if key in first.usage and key in last.usage:
            spent = last.usage[key].cpu_seconds - first.usage[key].cpu_seconds
            cpu[key] = spent / messages * 1000
            cores[key] = spent / elapsed
    # What the rest of the machine used meanwhile (other jobs disturb the figures).
    ours = sum(cores.values())
    cores["other"] = max((last.busy - first.busy) / elapsed - ours, 0.0)
    final_usage = sampler.samples[-1].usage
    figures = RunFigures(
        name=name,
        spec=asdict(spec),
        forwarded_per_s=forwarded,
        ack_per_s=float(result["ack_per_s"]),
        ack_ms=result["ack_ms"],
        e2e_ms={},
        errors=int(result["errors"]),
        statuses=result["statuses"],
        cpu_s_per_1k=cpu,
        cores_used=cores,
        rss_mib={t.name: final_usage[t.name].rss_mib for t in tracked},
        peak_rss_mib={
            t.name: max(s.usage[t.name].peak_rss_mib for s in sampler.samples if t.name in s.usage)
            for t in tracked
        },
        rss_growth_mib={
            t.name: last.usage[t.name].rss_mib - first.usage[t.name].rss_mib for t in tracked
        },
        window=[start, end],
    )
    if final is not None and last.accepted is not None:
        figures.backlog = final - last.accepted
    if sim_url is not None and e2e:
        figures.e2e_ms = percentiles(await end_to_end(sim_url, start, end))
    elif sim_url is not None:
        await end_to_end(sim_url, 0, 0)  # only clear the outbox
    return figures
