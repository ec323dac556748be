"""The composition root: ``python -m numproxy.gateway`` configured by environment only."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import httpx
import pytest

from numproxy.gateway.__main__ import main
from tests.integration.gateway.harness import FakeRouter, free_port
from tests.integration.gateway.payloads import INBOUND, SMS


async def wait_until_healthy(
    client: httpx.AsyncClient, process: asyncio.subprocess.Process
) -> None:
    for _ in range(500):
        assert process.returncode is None, "gateway exited during start-up"
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError("gateway did not start")


async def test_process_serves_and_stops_cleanly_on_sigterm(router: FakeRouter) -> None:
    port = free_port()
    env = dict(
        os.environ,
        NUMPROXY_GATEWAY_HOST="127.0.0.1",
        NUMPROXY_GATEWAY_PORT=str(port),
        NUMPROXY_GATEWAY_ROUTER_ADDRESS=router.address,
        NUMPROXY_GATEWAY_LOG_FORMAT="json",
        NUMPROXY_GATEWAY_SIGNATURE_SECRET="do-not-log-me",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "numproxy.gateway", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await wait_until_healthy(client, process)
            assert (await client.get("/readyz")).status_code == 200
            unsigned = await client.post(INBOUND, data=SMS)
            assert unsigned.status_code == 401
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    log = stderr.decode()
    assert '"message": "gateway stopped"' in log
    assert "signed webhooks required" in log
    assert "do-not-log-me" not in log
    assert "447700900001" not in log
    assert router.inbound.calls == 0


def test_invalid_configuration_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_METHOD", "sha3")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "NUMPROXY_GATEWAY_SIGNATURE_METHOD" in capsys.readouterr().err


def gateway_env(**values: str) -> dict[str, str]:
    """This environment with only ``values`` as gateway settings (and plaintext to the
    in-process router the tests run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMPROXY_GATEWAY_")}
    env["NUMPROXY_GATEWAY_ALLOW_PLAINTEXT"] = "true"
    env.update({f"NUMPROXY_GATEWAY_{key}": value for key, value in values.items()})
    return env


async def test_process_without_a_signature_secret_refuses_to_start() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "numproxy.gateway",
        env=gateway_env(HOST="127.0.0.1", PORT=str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "NUMPROXY_GATEWAY_SIGNATURE_SECRET is not set" in lines[0]
    assert "NUMPROXY_GATEWAY_ALLOW_UNSIGNED=true" in lines[0]
    assert stdout == b""
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # never listened


async def test_process_allowed_unsigned_serves_and_warns(router: FakeRouter) -> None:
    port = free_port()
    env = gateway_env(
        HOST="127.0.0.1",
        PORT=str(port),
        ROUTER_ADDRESS=router.address,
        LOG_FORMAT="json",
        ALLOW_UNSIGNED="true",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "numproxy.gateway", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await wait_until_healthy(client, process)
            assert (await client.post(INBOUND, data=SMS)).status_code == 204
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    records = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    warnings = [r["message"] for r in records if r["level"] == "warning"]
    assert any("anyone who can reach this gateway can forge" in w for w in warnings)
    assert router.inbound.calls == 1
