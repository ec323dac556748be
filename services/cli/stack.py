"""The local stack: how each service is started as its own process and when it is ready.

Used by ``numproxy dev`` and by the end-to-end tests, so both run the services the same way.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from numproxy.common.grpc_client import is_serving, open_channel
from numproxy.common.ports import EXIT_PORT_IN_USE, PortInUse
from numproxy.common.scopes import Scope
from numproxy.common.vonage_signing import SignatureMethod

# Start order: the router and sender first, the gateway (which needs the router) last.
SERVICES = ("router", "sender", "simulator", "gateway")
# Stop order: stop taking webhooks first, the sender (which the router drains into) last.
STOP_ORDER = ("gateway", "simulator", "router", "sender")
# Apps on the public API that ``numproxy dev`` runs beside the services: started after them,
# stopped before them.
APPS = ("lobby", "console")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


# The stack's caller identities and what each may do: admin everything, the gateway the
# inbound flow, the console and the lobby what they use (the lobby only its two pools, the
# lobby settings' defaults), the router sending.
DEV_ROUTER_CALLERS = {
    "admin": {"scopes": sorted(Scope)},
    "gateway": {"scopes": [Scope.INBOUND]},
    "console": {
        "scopes": [
            Scope.SESSIONS_READ,
            Scope.SESSIONS_WRITE,
            Scope.INTERACTIONS_READ,
            Scope.POOLS_ADMIN,
            Scope.EVENTS_READ,
        ]
    },
    "lobby": {"scopes": [Scope.SESSIONS_READ, Scope.POOLS_ADMIN], "pools": ["lobby", "chat"]},
}
DEV_SENDER_CALLERS = {"router": {"scopes": [Scope.SMS_SEND]}}
# Tuning and identities the stack sets unless the environment or extra_env says otherwise:
# Vonage's default throughput (which the simulator enforces too); the callers' policies. Until
# the services authenticate their callers, the stack's calls carry no identity and are made as
# admin (router) and router (sender).
_DEFAULTS: dict[str, dict[str, str]] = {
    "router": {
        "NUMPROXY_ROUTER_CALLERS": json.dumps(DEV_ROUTER_CALLERS),
        "NUMPROXY_ROUTER_ANONYMOUS_CALLER": "admin",
    },
    "sender": {
        "NUMPROXY_SENDER_RATE_LIMIT": "30",
        "NUMPROXY_SENDER_CALLERS": json.dumps(DEV_SENDER_CALLERS),
        "NUMPROXY_SENDER_ANONYMOUS_CALLER": "router",
    },
}


@dataclass(frozen=True)
class StackConfig:
    database_url: str
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    router_port: int = 50051
    sender_port: int = 50052
    simulator_port: int = 8090
    console_port: int = 8070
    lobby_port: int = 50061
    api_key: str = "simkey"
    api_secret: str = "simsecret"
    # The simulator signs webhooks with it and the gateway requires it; empty = the gateway
    # refuses to start unless extra_env sets NUMPROXY_GATEWAY_ALLOW_UNSIGNED=true.
    signature_secret: str = field(default="", repr=False)
    signature_method: SignatureMethod = "sha256"
    # Extra NUMPROXY_* variables for every service (signing, log format, ...).
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def router_address(self) -> str:
        return f"{self.host}:{self.router_port}"

    @property
    def sender_address(self) -> str:
        return f"{self.host}:{self.sender_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://{self.host}:{self.simulator_port}"

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.console_port}"

    @property
    def lobby_address(self) -> str:
        return f"{self.host}:{self.lobby_port}"

    @property
    def lobby_database_url(self) -> str:
        """The lobby's own SQLite file: beside the stack's SQLite database, else in
        .numproxy/."""
        url = make_url(self.database_url)
        folder = (
            Path(url.database).parent
            if url.get_backend_name() == "sqlite" and url.database
            else Path(".numproxy")
        )
        return f"sqlite+aiosqlite:///{folder / 'lobby.db'}"

    def service_env(self, service: str) -> dict[str, str]:
        """The NUMPROXY_<SERVICE>_* variables that wire ``service`` into this stack."""
        values: dict[str, str] = {
            "router": {
                "PORT": str(self.router_port),
                "DATABASE_URL": self.database_url,
                "SENDER_ADDRESS": self.sender_address,
            },
            "sender": {
                "PORT": str(self.sender_port),
                "BASE_URL": self.simulator_url,
                "API_KEY": self.api_key,
                "API_SECRET": self.api_secret,
            },
            "simulator": {
                "PORT": str(self.simulator_port),
                "GATEWAY_URL": self.gateway_url,
                "API_KEY": self.api_key,
                "API_SECRET": self.api_secret,
            },
            "gateway": {
                "PORT": str(self.gateway_port),
                "ROUTER_ADDRESS": self.router_address,
            },
            "lobby": {
                "PORT": str(self.lobby_port),
                "ROUTER_ADDRESS": self.router_address,
                "DATABASE_URL": self.lobby_database_url,
            },
            "console": {
                "PORT": str(self.console_port),
                "ROUTER_ADDRESS": self.router_address,
                # Loopback only (the console refuses local-dev mode on any other address).
                "LOCAL_DEV": "true",
                "COOKIE_SECURE": "false",
            },
        }[service]
        if self.signature_secret and service in ("gateway", "simulator"):
            values["SIGNATURE_SECRET"] = self.signature_secret
            values["SIGNATURE_METHOD"] = self.signature_method
        prefix = f"NUMPROXY_{service.upper()}_"
        env = {prefix + "HOST": self.host}
        env.update({prefix + key: value for key, value in values.items()})
        return env

    @property
    def ports(self) -> dict[str, int]:
        """Each process's listening port, by service name."""
        return {
            "router": self.router_port,
            "sender": self.sender_port,
            "simulator": self.simulator_port,
            "gateway": self.gateway_port,
            "lobby": self.lobby_port,
            "console": self.console_port,
        }

    def process_env(self, service: str) -> dict[str, str]:
        """The stack's defaults, then the environment and ``extra_env`` (either may override a
        default such as the sender's rate limit), then the wiring (which neither may)."""
        env = dict(_DEFAULTS.get(service, {}))
        env.update(os.environ)
        env.update(self.extra_env)
        env.update(self.service_env(service))
        return env


class ServiceProcess:
    """One service running as ``python -m numproxy.<service>`` in its own process group."""

    def __init__(self, service: str, config: StackConfig) -> None:
        self.service = service
        self.config = config
        self.process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"numproxy.{self.service}",
            env=self.config.process_env(self.service),
            # Own session: a terminal's Ctrl-C reaches the supervisor, which stops us in order.
            start_new_session=True,
            preexec_fn=end_with_parent(),
        )

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def signal(self, sig: signal.Signals) -> None:
        if self.running and self.process is not None:
            self.process.send_signal(sig)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            return await self.process.wait()


def end_with_parent() -> Callable[[], None] | None:
    """What a child runs between fork and exec so that it gets SIGTERM when the process that
    started it dies, even by SIGKILL (Linux ``prctl(PR_SET_PDEATHSIG)``); it then shuts down as
    on any SIGTERM and frees its port. None where there is no prctl.

    The signal comes when the *thread* that forked exits: the supervisor starts its children
    from its event loop's thread, which lives as long as the process does.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child must not load anything
    parent = os.getpid()

    def set_death_signal() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(70)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(70)

    return set_death_signal


async def is_ready(service: str, config: StackConfig) -> bool:
    """Whether ``service`` answers its own health check."""
    if service in ("router", "sender", "lobby"):
        address = {
            "router": config.router_address,
            "sender": config.sender_address,
            "lobby": config.lobby_address,
        }[service]
        channel = open_channel(address)
        try:
            return await is_serving(channel)
        finally:
            await channel.close(None)
    url = {
        "gateway": f"{config.gateway_url}/healthz",
        "simulator": f"{config.simulator_url}/_sim/config",
        "console": f"{config.console_url}/healthz",
    }[service]
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_ready(
    service: str, config: StackConfig, process: ServiceProcess | None = None, timeout: float = 30
) -> None:
    """Poll ``service``'s health check until it passes; fail early if its process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await is_ready(service, config):
        if process is not None and not process.running:
            if process.returncode == EXIT_PORT_IN_USE:
                raise PortInUse(config.host, config.ports[service])
            raise RuntimeError(f"{service} exited during start-up (see its log above)")
        if loop.time() > deadline:
            raise TimeoutError(f"{service} did not become ready within {timeout:.0f}s")
        await asyncio.sleep(0.1)
