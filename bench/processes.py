"""Starting the processes a benchmark run measures, with their logs in files."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx

from numproxy.cli.stack import StackConfig, is_ready

# The benchmark's settings for every run (the issue: no rate limit anywhere).
BENCH_ENV = {
    "NUMPROXY_SENDER_RATE_LIMIT": "0",
    "NUMPROXY_SIMULATOR_RATE_LIMIT": "0",
    # Receipts would be a second webhook stream through the gateway and router, which the
    # naive forwarder does not have; they are measured by the delivery-receipt tests instead.
    "NUMPROXY_SIMULATOR_DLR_ENABLED": "false",
    "NUMPROXY_SIMULATOR_OUTBOX_LIMIT": "100000",
    # The load generator posts unsigned webhooks straight to the gateway: the bench measures
    # forwarding, not signature checks.
    "NUMPROXY_GATEWAY_ALLOW_UNSIGNED": "true",
    # The busy conversation is one session taking every message: far past the session rate
    # cap, which would close it at once.
    "NUMPROXY_ROUTER_SESSION_RATE_MAX_MESSAGES": "0",
}


class Proc:
    """One process, stdout and stderr into ``log``; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log: Path,
        ready: Callable[[], Awaitable[bool]],
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log = log
        self.ready = ready
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.ready():
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.name} exited during start-up; see {self.log}")
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name} not ready within {timeout:.0f}s; see {self.log}")
            await asyncio.sleep(0.1)

    async def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


def service(name: str, config: StackConfig, logdir: Path, **extra: str) -> Proc:
    """A numproxy service (``python -m numproxy.<name>``) wired into ``config``."""
    env = config.process_env(name)
    env.update(BENCH_ENV)  # after the stack's own values (which rate-limit the sender)
    env.update(extra)

    async def ready() -> bool:
        return await is_ready(name, config)

    argv = [sys.executable, "-m", f"numproxy.{name}"]
    return Proc(name, argv, env, logdir / f"{name}.log", ready)


def module(
    name: str, argv: list[str], env: Mapping[str, str], logdir: Path, health_url: str | None
) -> Proc:
    """A bench/ module as a process; ready when ``health_url`` answers 200 (or at once)."""

    async def ready() -> bool:
        if health_url is None:
            return True
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                return (await client.get(health_url)).status_code == 200
        except httpx.HTTPError:
            return False

    return Proc(name, [sys.executable, "-m", *argv], env, logdir / f"{name}.log", ready)
