"""``numproxy dev``: the whole local stack, each service its own supervised process.

Migrates the database, starts router, sender, simulator and gateway, makes sure the
``default`` pool has numbers, then runs the apps: the lobby (with its ``lobby`` and ``chat``
pools) and the console (local-dev mode, loopback only). Prints where everything is, restarts
a process that dies (as Kubernetes would), and stops everything in order on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from numproxy.cli.stack import (
    APPS,
    SERVICES,
    STOP_ORDER,
    ServiceProcess,
    StackConfig,
    wait_ready,
)
from numproxy.client import AlreadyExistsError, NumproxyClient
from numproxy.common.grpc_client import open_channel
from numproxy.common.ports import PortInUse, ensure_free
from numproxy.common.settings import load_settings
from numproxy.lobby.pools import ensure_pools
from numproxy.lobby.settings import LobbySettings

log = logging.getLogger("numproxy.dev")

# Fictional numbers (the 555-01xx range) for the simulator's default pool.
DEFAULT_NUMBERS = ("+12025550101", "+12025550102", "+12025550103", "+12025550104")
# The lobby demo: one number to text an email to, two numbers for the chats.
LOBBY_NUMBERS = ("+12025550105",)
CHAT_NUMBERS = ("+12025550106", "+12025550107")
RESTART_BACKOFF_MAX = 10.0
SIGNATURE_SECRET_FILE = "signature-secret"


class Supervisor:
    def __init__(self, config: StackConfig, numbers: Sequence[str]) -> None:
        self.config = config
        self.numbers = list(numbers)
        self.processes = {name: ServiceProcess(name, config) for name in SERVICES + APPS}
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        watchers: list[asyncio.Task[None]] = []
        try:
            for group in (SERVICES, APPS):
                if group is APPS:
                    await self._seed_pools()
                for name in group:
                    process = self.processes[name]
                    await process.start()
                    await self._until_ready_or_stopped(name, process)
                    if self.stopping.is_set():
                        return 0
                    watchers.append(asyncio.create_task(self._watch(name)))
            self._print_banner()
            await self.stopping.wait()
            return 0
        except PortInUse as exc:
            print(port_in_use(self.config, exc), file=sys.stderr)
            return 1
        except (RuntimeError, TimeoutError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            self.stopping.set()
            for task in watchers:
                task.cancel()
            for name in (*reversed(APPS), *STOP_ORDER):
                await self.processes[name].stop()
            print("numproxy dev: stopped", file=sys.stderr)

    async def _until_ready_or_stopped(self, name: str, process: ServiceProcess) -> None:
        ready = asyncio.create_task(wait_ready(name, self.config, process))
        stop = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait({ready, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if ready in done:
            ready.result()
        else:
            ready.cancel()

    async def _watch(self, name: str) -> None:
        """Restart ``name`` whenever it exits while the stack is meant to be up."""
        backoff = 0.5
        process = self.processes[name]
        while True:
            code = await process.wait()
            if self.stopping.is_set():
                return
            log.warning("%s exited with code %s; restarting in %.1fs", name, code, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), backoff)
            if self.stopping.is_set():
                return
            await process.start()
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)
            with contextlib.suppress(RuntimeError, TimeoutError):
                await wait_ready(name, self.config, process)
                backoff = 0.5

    async def _seed_pools(self) -> None:
        """The ``default`` pool with the given numbers; the lobby's two pools with theirs."""
        async with NumproxyClient(self.config.router_address) as client:
            with contextlib.suppress(AlreadyExistsError):
                await client.create_pool("default")
            if self.numbers:
                await client.add_numbers("default", self.numbers)
        channel = open_channel(self.config.router_address)
        try:
            await ensure_pools(
                channel,
                load_settings(LobbySettings),  # the pool ids and texts the lobby process reads
                lobby_address=self.config.lobby_address,
                lobby_numbers=LOBBY_NUMBERS,
                chat_numbers=CHAT_NUMBERS,
            )
        finally:
            await channel.close(None)

    def _print_banner(self) -> None:
        c = self.config
        url = make_url(c.database_url).render_as_string(hide_password=True)
        lines = [
            "",
            "numproxy dev stack is up",
            f"  console    {c.console_url}  (operator console, local-dev mode: no sign-in)",
            f"  phones     {phones_url(c)}  (phones in the browser)",
            f"  lobby      {c.lobby_address}  (gRPC HookService; pool lobby:"
            f" {', '.join(LOBBY_NUMBERS)}; chats in pool chat: {', '.join(CHAT_NUMBERS)})",
            f"  router     {c.router_address}  (gRPC: SessionService, PoolService, EventService)",
            f"  sender     {c.sender_address}  (gRPC: SenderService)",
            f"  gateway    {c.gateway_url}  (health: /healthz, /readyz)",
            f"  webhooks   {c.gateway_url}/webhooks/inbound-sms",
            f"             {c.gateway_url}/webhooks/delivery-receipt",
            f"             {c.gateway_url}/webhooks/inbound-message  (Messages API)",
            f"             signed ({c.signature_method}); unsigned or tampered ones are refused",
            f"  simulator  {c.simulator_url}  (Vonage: /sms/json; control: /_sim/inbound,"
            " /_sim/outbox, /_sim/config)",
            f"  database   {url}",
            f"  pool       default: {', '.join(self.numbers) or '(no numbers added)'}",
            "",
            "Try:  numproxy session create +15551230001 +15551230002",
            "      or open the phones, text an email address from two of them, and chat",
            "Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(lines), flush=True)


def phones_url(config: StackConfig) -> str:
    return f"{config.simulator_url}/_sim/phones?to=%2B{LOBBY_NUMBERS[0].lstrip('+')}"


def dev_signature_secret(state: Path) -> str:
    """The stack's webhook signature secret: made once, random, kept in ``state`` (owner-only)
    so a developer can sign their own test webhooks with it."""
    path = state / SIGNATURE_SECRET_FILE
    secret = path.read_text().strip() if path.exists() else ""
    if not secret:
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
    return secret


def port_in_use(config: StackConfig, exc: PortInUse) -> str:
    """One line: which port is taken, whose it is, and the flag that changes it."""
    names = [name for name, port in config.ports.items() if port == exc.port]
    if not names:
        return f"error: {exc}"
    return (
        f"error: port {exc.port} ({names[0]}) is already in use on {exc.host}; "
        f"choose another with --{names[0]}-port"
    )


def ports_problem(config: StackConfig) -> str | None:
    """Why the stack cannot listen where it is told to, in one line: a port given to two
    processes, or one already in use. None when every port is free."""
    owners: dict[int, str] = {}
    for name, port in config.ports.items():
        if port in owners:
            return (
                f"error: port {port} is given to both {owners[port]} and {name}; "
                f"choose another with --{name}-port"
            )
        owners[port] = name
    try:
        for port in config.ports.values():
            ensure_free(config.host, port)
    except PortInUse as exc:
        return port_in_use(config, exc)
    return None


def run_dev(config: StackConfig, numbers: Sequence[str]) -> int:
    from numproxy.lobby.store import create_tables
    from numproxy.router.store.dialect import create_engine
    from numproxy.router.store.migrations import upgrade

    problem = ports_problem(config)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    upgrade(config.database_url)

    async def lobby_tables() -> None:
        engine = create_engine(config.lobby_database_url)
        try:
            await create_tables(engine)
        finally:
            await engine.dispose()

    asyncio.run(lobby_tables())
    return asyncio.run(Supervisor(config, numbers).run())
