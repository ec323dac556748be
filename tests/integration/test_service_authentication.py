"""Authentication of real service processes: mTLS, bearer tokens, the health port, and the
refusal to start without TLS unless plaintext was chosen."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from numproxy.common.authentication import token_hash
from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving, open_channel
from numproxy.common.local_ca import ensure_local_ca
from numproxy.common.tls import ClientTls
from numproxy.v1 import pool_pb2, pool_pb2_grpc
from tests.support.postgres import free_port
from tests.support.router_sessions import router_process
from tests.support.tls import identity

TOKEN = "token-of-the-reporting-job"
SERVICES = ("router", "sender", "gateway", "lobby", "console")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "numproxy.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def list_pools(channel: grpc.aio.Channel) -> pool_pb2.ListPoolsResponse:
    stub = pool_pb2_grpc.PoolServiceStub(channel)
    return await stub.ListPools(pool_pb2.ListPoolsRequest(), timeout=5)


async def failure(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await list_pools(channel)
    return caught.value


async def test_the_router_process_takes_certificates_of_its_ca_only(
    sqlite_url: str, tmp_path: Path
) -> None:
    with router_process(sqlite_url) as router:
        await router.wait_serving()
        async with open_channel(router.address, router.tls) as channel:
            await list_pools(channel)  # the test CA's admin certificate: accepted
        ca_only = ClientTls(router.tls.ca)
        foreign = ensure_local_ca(tmp_path / "other-ca", ["admin"])["admin"].client_tls()
        stranger = ClientTls(router.tls.ca, foreign.cert, foreign.key)
        for tls in (ca_only, stranger):
            async with open_channel(router.address, tls) as channel:
                assert (await failure(channel)).code() == grpc.StatusCode.UNAVAILABLE
        # Plaintext gets no answer from a TLS port either.
        async with open_channel(router.address, None) as channel:
            assert (await failure(channel)).code() == grpc.StatusCode.UNAVAILABLE
        assert "Traceback" not in router.output()


async def test_bearer_tokens_and_the_health_port_of_the_router_process(sqlite_url: str) -> None:
    token_port, health_port = free_port(), free_port()
    env = {
        "NUMPROXY_ROUTER_AUTH_TOKENS": json.dumps({"reporting": token_hash(TOKEN)}),
        "NUMPROXY_ROUTER_TOKEN_PORT": str(token_port),
        "NUMPROXY_ROUTER_HEALTH_PORT": str(health_port),
        # The token's name is a caller like any other: listed with what it may do.
        "NUMPROXY_ROUTER_CALLERS": json.dumps({"reporting": {"scopes": ["pools:read"]}}),
    }
    with router_process(sqlite_url, **env) as router:
        await router.wait_serving()
        ca_only = ClientTls(router.tls.ca)
        address = f"127.0.0.1:{token_port}"
        async with open_channel(address, ca_only, token=TOKEN) as channel:
            await list_pools(channel)
        for token, reason in (("not-the-token", "UNKNOWN_TOKEN"), (None, "NO_CREDENTIALS")):
            async with open_channel(address, ca_only, token=token) as channel:
                error = await failure(channel)
                info = error_info(error)
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                assert info is not None and info.reason == reason
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            assert await is_serving(channel)  # what a kubelet grpc probe asks, plaintext
            assert (await failure(channel)).code() == grpc.StatusCode.UNIMPLEMENTED
        assert TOKEN not in router.output()


def without_transport_settings() -> dict[str, str]:
    """This environment without any service's TLS or plaintext setting."""
    words = ("_TLS_", "_ALLOW_PLAINTEXT")
    return {k: v for k, v in os.environ.items() if not any(w in k for w in words)}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_without_certificates_refuses_to_start(service: str) -> None:
    prefix = f"NUMPROXY_{service.upper()}_"
    env = {
        **without_transport_settings(),
        # Everything else it needs, so that TLS is the one problem.
        "NUMPROXY_GATEWAY_ALLOW_UNSIGNED": "true",
        "NUMPROXY_CONSOLE_LOCAL_DEV": "true",
        "NUMPROXY_CONSOLE_HOST": "127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, "-m", f"numproxy.{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"invalid configuration: {prefix}TLS_CERT, {prefix}TLS_KEY and {prefix}TLS_CA are not "
        f"set: set them to PEM files, or {prefix}ALLOW_PLAINTEXT=true to run without TLS"
    ]


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    files = identity("sender")
    env = {
        **without_transport_settings(),
        "NUMPROXY_SENDER_TLS_CERT": str(tmp_path / "gone.pem"),
        "NUMPROXY_SENDER_TLS_KEY": str(files.key),
        "NUMPROXY_SENDER_TLS_CA": str(files.ca),
    }
    done = subprocess.run(
        [sys.executable, "-m", "numproxy.sender"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "invalid configuration: NUMPROXY_SENDER_TLS_CERT: no such file"


async def test_plaintext_is_a_warning_at_start() -> None:
    port = free_port()
    env = {
        **without_transport_settings(),
        "NUMPROXY_SENDER_ALLOW_PLAINTEXT": "true",
        "NUMPROXY_SENDER_HOST": "127.0.0.1",
        "NUMPROXY_SENDER_PORT": str(port),
        "NUMPROXY_SENDER_LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "numproxy.sender",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        records = []
        while not records or not records[-1]["message"].startswith("serving "):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            assert line, "the sender exited"
            records.append(json.loads(line))
        warnings = [r for r in records if "plaintext" in r["message"]]
        assert [r["level"] for r in warnings] == ["warning"]
        async with open_channel(f"127.0.0.1:{port}", None) as channel:
            # It answers plaintext (NOT_SERVING: no Vonage credentials configured).
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        process.terminate()
        await process.wait()
