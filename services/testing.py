"""numproxy.testing: the whole numproxy stack in containers, for other teams' integration tests.

``NumproxyStack`` starts, on a private Docker network, PostgreSQL (or a SQLite file on a
volume), runs the router's migrations, then the router, sender, Vonage simulator and gateway
from one numproxy image, and waits until every service reports healthy::

    from numproxy.testing import NumproxyStack

    with NumproxyStack("numproxy:dev") as stack:
        async with stack.client() as client:          # a NumproxyClient on the router
            await client.create_pool("default")
            await client.add_numbers("default", ["+15550001"])
            await client.create_session("+15551111", "+15552222")
        stack.simulator.inbound("+15551111", "+15550001", "hello")   # a phone texts
        sms = stack.simulator.wait_for_sms(to="+15552222")           # what a phone received

It needs a reachable Docker engine and the images (``numproxy:dev`` and a PostgreSQL image
compatible with the official one). Published ports are bound to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    from numproxy.client import NumproxyClient

__all__ = [
    "NumproxyStack",
    "SimulatorControl",
    "StackStartError",
    "configure_testcontainers",
    "grpc_serving",
    "http_ok",
]

DEFAULT_IMAGE = "numproxy:dev"
DEFAULT_POSTGRES_IMAGE = "postgres:16-alpine"
# Ports inside the containers (the services' defaults); the host sees random mapped ports.
GATEWAY_PORT, ROUTER_PORT, SENDER_PORT = 8080, 50051, 50052
SIMULATOR_PORT, POSTGRES_PORT = 8090, 5432
SERVICES = ("router", "sender", "simulator", "gateway")

# Test-only credentials of the simulated Vonage account and of the private database.
SIM_API_KEY = "simkey"
SIM_API_SECRET = "simsecret"  # the simulator's fake account, not a secret
DB_USER = DB_NAME = "numproxy"
DB_PASSWORD = "numproxy-test"  # a throw-away container's password


class StackStartError(RuntimeError):
    """A container exited or a service did not become healthy in time (logs attached)."""


def configure_testcontainers() -> None:
    """Defaults that make testcontainers work where no registry can be reached.

    The Ryuk reaper image cannot be pulled there, and a host that is itself a container
    (``/.dockerenv``) must still talk to the engine's published ports directly. Variables the
    caller already set win.
    """
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    testcontainers_config.ryuk_disabled = (
        os.environ["TESTCONTAINERS_RYUK_DISABLED"].lower() == "true"
    )
    if testcontainers_config.connection_mode_override is None:
        testcontainers_config.connection_mode_override = ConnectionMode(
            os.environ["TESTCONTAINERS_CONNECTION_MODE"]
        )


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class SimulatorControl:
    """The simulator's control API (``/_sim/...``): phones that text, and what phones got."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self._http.request(method, path, **kwargs)
        reply.raise_for_status()
        return reply.json()

    def inbound(self, from_number: str, to_number: str, text: str, **extra: Any) -> Any:
        """A phone ``from_number`` texts ``text`` to the virtual number ``to_number``; the
        simulator delivers it to the gateway as Vonage would (answers after the first attempt).
        """
        body = {"from": from_number, "to": to_number, "text": text, **extra}
        return self._json("POST", "/_sim/inbound", json=body)

    def outbox(self) -> list[dict[str, Any]]:
        """Every SMS "sent to phones" so far (from, to, text, message_id, client_ref, ...)."""
        result: list[dict[str, Any]] = self._json("GET", "/_sim/outbox")
        return result

    def clear_outbox(self) -> int:
        deleted: int = self._json("DELETE", "/_sim/outbox")["deleted"]
        return deleted

    def config(self, **changes: Any) -> dict[str, Any]:
        """Read the simulator's configuration, or change some of it (fault injection)."""
        if changes:
            result: dict[str, Any] = self._json("POST", "/_sim/config", json=changes)
        else:
            result = self._json("GET", "/_sim/config")
        return result

    def reset(self) -> None:
        self._json("POST", "/_sim/reset")

    def wait_for_sms(
        self,
        *,
        to: str | None = None,
        from_number: str | None = None,
        text: str | None = None,
        timeout: float = 15.0,
        interval: float = 0.1,
    ) -> dict[str, Any]:
        """The first outbox SMS matching every given field (numbers compared by digits);
        raises ``TimeoutError`` listing what the outbox held."""

        def matches(sms: Mapping[str, Any]) -> bool:
            return (
                (to is None or _digits(str(sms.get("to", ""))) == _digits(to))
                and (
                    from_number is None or _digits(str(sms.get("from", ""))) == _digits(from_number)
                )
                and (text is None or sms.get("text") == text)
            )

        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while True:
            seen = self.outbox()
            for sms in seen:
                if matches(sms):
                    return sms
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no SMS to={to!r} from={from_number!r} text={text!r} within {timeout}s; "
                    f"outbox: {seen!r}"
                )
            time.sleep(interval)


class NumproxyStack:
    """router + sender + gateway + Vonage simulator (+ PostgreSQL) in containers.

    Use as a context manager (or call :meth:`start` / :meth:`stop`). After start:
    ``router_address`` (host:port for gRPC), ``client()`` (a ``NumproxyClient`` on it),
    ``gateway_url``, ``simulator_url`` and ``simulator`` (the control API), and
    ``database_url`` (PostgreSQL, reachable from the host).
    """

    def __init__(
        self,
        image: str | None = None,
        *,
        database: Literal["postgres", "sqlite"] = "postgres",
        postgres_image: str | None = None,
        signature_secret: str | None = None,
        signature_method: str = "sha256",
        env: Mapping[str, Mapping[str, str]] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        if database not in ("postgres", "sqlite"):
            raise ValueError(f"database must be 'postgres' or 'sqlite', not {database!r}")
        unknown = set(env or {}) - set(SERVICES)
        if unknown:
            raise ValueError(f"env has unknown services {sorted(unknown)}; use {SERVICES}")
        # Unset: NUMPROXY_TESTING_IMAGE / NUMPROXY_TESTING_POSTGRES_IMAGE, then the defaults,
        # so a CI with a mirror or locally built images needs no change to the tests.
        self.image = image or os.environ.get("NUMPROXY_TESTING_IMAGE") or DEFAULT_IMAGE
        self.database = database
        self.postgres_image = (
            postgres_image
            or os.environ.get("NUMPROXY_TESTING_POSTGRES_IMAGE")
            or DEFAULT_POSTGRES_IMAGE
        )
        # The simulator signs webhooks and the gateway requires it, as in production; a random
        # one unless given (``signature_secret`` lets a test sign its own webhooks).
        self.signature_secret = signature_secret or secrets.token_urlsafe(24)
        self.signature_method = signature_method
        self.env = {name: dict(values) for name, values in (env or {}).items()}
        self.startup_timeout = startup_timeout
        self._id = uuid.uuid4().hex[:8]
        self._network: Network | None = None
        self._volume: str | None = None
        self._containers: dict[str, DockerContainer] = {}
        self._simulator: SimulatorControl | None = None

    # --- what a test uses ----------------------------------------------------------------

    @property
    def router_address(self) -> str:
        return f"127.0.0.1:{self._port('router', ROUTER_PORT)}"

    @property
    def sender_address(self) -> str:
        return f"127.0.0.1:{self._port('sender', SENDER_PORT)}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self._port('gateway', GATEWAY_PORT)}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self._port('simulator', SIMULATOR_PORT)}"

    @property
    def database_url(self) -> str:
        """The PostgreSQL database as the host reaches it (asyncpg URL)."""
        if self.database != "postgres":
            raise RuntimeError("this stack runs on SQLite inside the router's volume")
        port = self._port("postgres", POSTGRES_PORT)
        return f"postgresql+asyncpg://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{port}/{DB_NAME}"

    @property
    def simulator(self) -> SimulatorControl:
        if self._simulator is None:
            raise RuntimeError("the stack is not started")
        return self._simulator

    def client(self, *, timeout: float = 10.0) -> NumproxyClient:
        """A new ``NumproxyClient`` on the router; make it in the event loop that uses it
        (``async with stack.client() as client: ...``)."""
        from numproxy.client import NumproxyClient

        return NumproxyClient(self.router_address, timeout=timeout)

    def logs(self, service: str) -> str:
        """stdout+stderr of one container (router, sender, simulator, gateway, postgres)."""
        out, err = self._containers[service].get_logs()
        return (out + err).decode(errors="replace")

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        configure_testcontainers()
        from testcontainers.core.network import Network

        try:
            self._network = Network().create()
            database_url = self._start_database()
            # The migration runs while the services that don't need the database start;
            # the router (and the gateway in front of it) only after it finished.
            self._start_migration(database_url)
            self._start_services(database_url, ("sender", "simulator"))
            self._finish_migration()
            self._start_services(database_url, ("router", "gateway"))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._simulator is not None:
            self._simulator.close()
            self._simulator = None
        # The gateway first (no new webhooks), the database last.
        for name in ("gateway", "simulator", "router", "sender", "migrate", "postgres"):
            container = self._containers.pop(name, None)
            if container is not None:
                with contextlib.suppress(Exception):  # already gone: nothing to stop
                    container.stop()
        if self._volume is not None:
            self._remove_volume(self._volume)
            self._volume = None
        if self._network is not None:
            with contextlib.suppress(Exception):  # already gone
                self._network.remove()
            self._network = None

    # --- internals -----------------------------------------------------------------------

    def _port(self, name: str, port: int) -> int:
        container = self._containers.get(name)
        if container is None:
            raise RuntimeError(f"{name} is not running in this stack")
        return int(container.get_exposed_port(port))

    def _container(self, image: str, alias: str) -> DockerContainer:
        from testcontainers.core.container import DockerContainer

        assert self._network is not None
        return (
            DockerContainer(image)
            .with_name(f"numproxy-{self._id}-{alias}")
            .with_network(self._network)
            .with_network_aliases(alias)
        )

    def _publish(self, container: DockerContainer, port: int) -> None:
        # 127.0.0.1 only: nothing outside this machine can reach the test stack.
        # (docker-py takes (address, None) for "a free port on that address"; testcontainers'
        # with_bind_ports has no way to say it, so the mapping is set directly.)
        container.ports[str(port)] = ("127.0.0.1", None)  # type: ignore[assignment]

    def _service_env(self, service: str, values: Mapping[str, str]) -> dict[str, str]:
        merged = {"LOG_FORMAT": "json", **values, **self.env.get(service, {})}
        return {f"NUMPROXY_{service.upper()}_{key}": value for key, value in merged.items()}

    def _start_database(self) -> str:
        if self.database == "sqlite":
            self._volume = f"numproxy-{self._id}-data"
            return "sqlite+aiosqlite:////var/lib/numproxy/numproxy.db"
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.14
            from testcontainers.postgres import PostgresContainer

        assert self._network is not None
        # testcontainers' own PostgresContainer: any image with the official image's
        # POSTGRES_* variables and psql works (postgres:16-alpine, or local/postgres:15 here).
        postgres = (
            PostgresContainer(
                self.postgres_image,
                username=DB_USER,
                password=DB_PASSWORD,
                dbname=DB_NAME,
                driver="asyncpg",
            )
            .with_name(f"numproxy-{self._id}-postgres")
            .with_network(self._network)
            .with_network_aliases("postgres")
        )
        self._publish(postgres, POSTGRES_PORT)
        self._containers["postgres"] = postgres
        postgres.start()
        return f"postgresql+asyncpg://{DB_USER}:{DB_PASSWORD}@postgres:{POSTGRES_PORT}/{DB_NAME}"

    def _with_data_volume(self, container: DockerContainer) -> DockerContainer:
        if self._volume is not None:
            container.with_volume_mapping(self._volume, "/var/lib/numproxy", "rw")
        return container

    def _start_migration(self, database_url: str) -> None:
        """``numproxy router migrate`` once, like the chart's hook Job (never at start-up)."""
        migrate = self._with_data_volume(
            self._container(self.image, "migrate")
            .with_command(["router", "migrate"])
            .with_envs(**self._service_env("router", {"DATABASE_URL": database_url}))
        )
        self._containers["migrate"] = migrate
        migrate.start()

    def _finish_migration(self) -> None:
        migrate = self._containers["migrate"]
        code = migrate.get_wrapped_container().wait(timeout=int(self.startup_timeout))
        if code.get("StatusCode") != 0:
            raise StackStartError(f"migrations failed ({code}):\n{self.logs('migrate')}")
        migrate.stop()
        del self._containers["migrate"]

    def _start_services(self, database_url: str, services: tuple[str, ...]) -> None:
        from numproxy.cli.stack import DEV_ROUTER_CALLERS, DEV_SENDER_CALLERS

        signing = {
            "SIGNATURE_SECRET": self.signature_secret,
            "SIGNATURE_METHOD": self.signature_method,
        }
        # The local stack's callers (numproxy dev's); calls without an identity are made as
        # admin (router) and router (sender) until the services authenticate their callers.
        wiring: dict[str, tuple[int, dict[str, str]]] = {
            "router": (
                ROUTER_PORT,
                {
                    "DATABASE_URL": database_url,
                    "SENDER_ADDRESS": f"sender:{SENDER_PORT}",
                    "CALLERS": json.dumps(DEV_ROUTER_CALLERS),
                    "ANONYMOUS_CALLER": "admin",
                },
            ),
            "sender": (
                SENDER_PORT,
                {
                    "BASE_URL": f"http://simulator:{SIMULATOR_PORT}",
                    "API_KEY": SIM_API_KEY,
                    "API_SECRET": SIM_API_SECRET,
                    "CALLERS": json.dumps(DEV_SENDER_CALLERS),
                    "ANONYMOUS_CALLER": "router",
                },
            ),
            "simulator": (
                SIMULATOR_PORT,
                {
                    "GATEWAY_URL": f"http://gateway:{GATEWAY_PORT}",
                    "API_KEY": SIM_API_KEY,
                    "API_SECRET": SIM_API_SECRET,
                    **signing,
                },
            ),
            "gateway": (GATEWAY_PORT, {"ROUTER_ADDRESS": f"router:{ROUTER_PORT}", **signing}),
        }
        for service in services:
            port, values = wiring[service]
            container = self._container(self.image, service).with_command([service])
            container.with_envs(**self._service_env(service, {"PORT": str(port), **values}))
            if service == "router":
                self._with_data_volume(container)
            self._publish(container, port)
            self._containers[service] = container
            container.start()

    def _wait_ready(self) -> None:
        checks: dict[str, Callable[[], bool]] = {
            "router": lambda: grpc_serving(self.router_address),
            "sender": lambda: grpc_serving(self.sender_address),
            "simulator": lambda: http_ok(f"{self.simulator_url}/_sim/health"),
            "gateway": lambda: http_ok(f"{self.gateway_url}/readyz"),
        }
        deadline = time.monotonic() + self.startup_timeout
        pending = dict(checks)
        while pending:
            for name, check in list(pending.items()):
                self._containers[name].reload()
                status = self._containers[name].status
                if status in ("exited", "dead"):
                    raise StackStartError(f"{name} exited during start-up:\n{self.logs(name)}")
                if check():
                    del pending[name]
            if not pending:
                break
            if time.monotonic() >= deadline:
                logs = "\n".join(f"--- {n}\n{self.logs(n)}" for n in pending)
                raise StackStartError(
                    f"not healthy within {self.startup_timeout}s: {sorted(pending)}\n{logs}"
                )
            time.sleep(0.2)
        self._simulator = SimulatorControl(self.simulator_url)

    def _remove_volume(self, name: str) -> None:
        from testcontainers.core.docker_client import DockerClient

        client = DockerClient().client
        for volume in client.volumes.list(filters={"name": name}):
            if volume.name == name:
                volume.remove(force=True)


def grpc_serving(target: str, service: str = "") -> bool:
    """The standard gRPC health check, as the kubelet's grpc probe asks it."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
