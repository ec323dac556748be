"""`numproxy dev` brings the whole stack up, the CLI drives it, Ctrl-C takes it all down."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest

from numproxy.cli.dev import LOBBY_NUMBERS
from numproxy.common.vonage_signing import sign
from numproxy.lobby.settings import LobbySettings
from tests.support.postgres import free_port

pytestmark = pytest.mark.e2e

NUMPROXY = str(Path(sys.executable).parent / "numproxy")


async def cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The CLI run in ``cwd`` (the dev stack's folder: it finds the stack's certificates in
    .numproxy/tls there, as a developer's CLI does)."""
    proc = await asyncio.create_subprocess_exec(
        NUMPROXY, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_dev_stack_with_cli(tmp_path: Path) -> None:
    services = ("gateway", "router", "sender", "simulator", "console", "lobby")
    ports = {name: free_port() for name in services}
    dev = await asyncio.create_subprocess_exec(
        NUMPROXY,
        "dev",
        *[arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))],
        "--numbers",
        "12025550111,+12025550112",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
    )
    assert dev.stdout is not None
    router = f"127.0.0.1:{ports['router']}"
    try:
        banner = ""
        while "Ctrl-C stops everything" not in banner:
            line = await asyncio.wait_for(dev.stdout.readline(), 90)
            assert line, f"numproxy dev exited early: {banner}"
            banner += line.decode()
        assert f"127.0.0.1:{ports['gateway']}" in banner
        assert "+12025550111, +12025550112" in banner
        assert (tmp_path / ".numproxy" / "dev.db").exists()  # the default SQLite database
        # mTLS out of the box: a local CA and a certificate per identity, keys owner-only.
        tls = tmp_path / ".numproxy" / "tls"
        for identity in ("router", "sender", "gateway", "console", "lobby", "admin"):
            assert (tls / f"{identity}.pem").exists()
            assert stat.S_IMODE((tls / f"{identity}-key.pem").stat().st_mode) == 0o600
        # Without the stack's certificates the router is out of reach.
        code, _, err = await cli("session", "list", "--router", router, "--plaintext")
        assert code == 1, err
        assert "Traceback" not in err

        code, out, err = await cli(
            "session", "create", "15551230001", "+15551230002", "--router", router, cwd=tmp_path
        )
        assert code == 0, err
        created = json.loads(out)
        proxies = {p["number"]: p["proxy_number"] for p in created["participants"]}
        assert set(proxies) == {"+15551230001", "+15551230002"}
        assert set(proxies.values()) <= {"+12025550111", "+12025550112"}

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['simulator']}") as sim:
            sent = await sim.post(
                "/_sim/inbound",
                json={"from": "15551230001", "to": proxies["+15551230001"], "text": "hi via dev"},
            )
            assert sent.status_code == 200
            for _ in range(200):
                outbox = (await sim.get("/_sim/outbox")).json()
                if any(s["text"] == "hi via dev" for s in outbox):
                    break
                await asyncio.sleep(0.05)
            delivered = [s for s in outbox if s["text"] == "hi via dev"]
            assert [s["to"].lstrip("+") for s in delivered] == ["15551230002"]
            assert delivered[0]["from"].lstrip("+") == proxies["+15551230002"].lstrip("+")

            # The lobby app over mTLS both ways: the router calls its HookService, it answers
            # through the router's API.
            lobby = {"from": "15551230009", "to": LOBBY_NUMBERS[0], "text": "ada@example.com"}
            assert (await sim.post("/_sim/inbound", json=lobby)).status_code == 200
            for _ in range(200):
                outbox = (await sim.get("/_sim/outbox")).json()
                replies = [s["text"] for s in outbox if s["to"].lstrip("+") == "15551230009"]
                if replies:
                    break
                await asyncio.sleep(0.05)
            assert replies == [LobbySettings(allow_plaintext=True).waiting_text]

        # Signing is on out of the box: the simulator signed that webhook with the secret
        # `numproxy dev` made; unsigned, tampered and replayed ones are refused.
        secret = (tmp_path / ".numproxy" / "signature-secret").read_text().strip()
        assert secret
        webhook = {
            "msisdn": "15551230001",
            "to": proxies["+15551230001"].lstrip("+"),
            "messageId": "0B00000042AC53BD",
            "text": "signed by hand",
            "type": "text",
            "timestamp": str(int(time.time())),
            "nonce": "dev-test-nonce",
        }
        signed = dict(webhook, sig=sign(webhook, secret, "sha256"))
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        async with httpx.AsyncClient(base_url=gateway_url) as gateway:
            path = "/webhooks/inbound-sms"
            unsigned = await gateway.get(path, params=dict(webhook, text="forged"))
            assert unsigned.status_code == 401
            assert unsigned.json()["error"]["code"] == "SIGNATURE_REQUIRED"
            tampered = await gateway.get(path, params=dict(signed, text="forged"))
            assert tampered.status_code == 401
            assert tampered.json()["error"]["code"] == "SIGNATURE_INVALID"
            accepted = await gateway.get(path, params=signed)
            assert accepted.status_code == 204
            replayed = await gateway.get(path, params=signed)
            assert replayed.status_code == 401
            assert replayed.json()["error"]["code"] == "SIGNATURE_REPLAYED"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['simulator']}") as sim:
            for _ in range(200):
                outbox = [s["text"] for s in (await sim.get("/_sim/outbox")).json()]
                if "signed by hand" in outbox:
                    break
                await asyncio.sleep(0.05)
            # Only the accepted copy was forwarded; nothing forged reached a phone.
            assert outbox.count("signed by hand") == 1
            assert "forged" not in outbox

        code, out, _ = await cli("session", "list", "--json", "--router", router, cwd=tmp_path)
        assert code == 0
        assert [s["id"] for s in json.loads(out)] == [created["id"]]

        code, out, _ = await cli(
            "session", "close", created["id"], "--router", router, cwd=tmp_path
        )
        assert code == 0
        assert "closed (api)" in out

        code, out, err = await cli(
            "session", "create", "123", "+15551230002", "--router", router, cwd=tmp_path
        )
        assert code == 1
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert "INVALID_NUMBER" in err

        unknown = "00000000-0000-4000-8000-000000000000"
        code, _, err = await cli("session", "get", unknown, "--router", router, cwd=tmp_path)
        assert code == 1
        assert "NOT_FOUND" in err or "SESSION_NOT_FOUND" in err
    finally:
        dev.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(dev.wait(), 60) == 0
    assert not any(port_open(port) for port in ports.values())


async def test_cli_usage_errors_are_one_line() -> None:
    code, _, err = await cli("session", "create", "+15551230001")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    code, _, err = await cli("session", "list", "--router", f"127.0.0.1:{free_port()}")
    assert code == 1
    assert "unreachable" in err
    assert "Traceback" not in err
