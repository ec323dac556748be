"""`numproxy dev` as a supervisor: the environment wins over the stack's defaults, a taken port
is one line naming the flag, and its processes never outlive it, even when it is SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from numproxy.router.store.migrations import upgrade
from tests.support.postgres import free_port

pytestmark = pytest.mark.e2e

NUMPROXY = str(Path(sys.executable).parent / "numproxy")
SERVICES = ("gateway", "router", "sender", "simulator", "console", "lobby")


@contextlib.contextmanager
def listening() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def port_flags(ports: dict[str, int]) -> list[str]:
    return [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]


def children(pid: int) -> dict[int, str]:
    """The live processes whose parent is ``pid``: pid -> their command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper holds no port and runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_a_taken_port_is_one_line_naming_its_flag(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    with listening() as taken:
        ports["sender"] = taken
        dev = await asyncio.create_subprocess_exec(
            NUMPROXY,
            "dev",
            *port_flags(ports),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(dev.communicate(), 60)
    assert dev.returncode == 1
    assert err.decode().splitlines() == [
        f"error: port {taken} (sender) is already in use on 127.0.0.1; "
        "choose another with --sender-port"
    ]
    assert out == b""
    assert not (tmp_path / ".numproxy" / "dev.db").exists()  # checked before anything started


# The supervisor of `numproxy dev` without its check before start, in a process of its own.
SUPERVISOR = """
import asyncio, sys
from numproxy.cli.dev import Supervisor
from numproxy.cli.stack import StackConfig
config = StackConfig(
    database_url=sys.argv[1],
    router_port=int(sys.argv[2]),
    sender_port=int(sys.argv[3]),
    extra_env={"NUMPROXY_GATEWAY_ALLOW_UNSIGNED": "true"},
)
sys.exit(asyncio.run(Supervisor(config, []).run()))
"""


async def test_a_child_that_cannot_bind_stops_the_stack_with_one_line(tmp_path: Path) -> None:
    """The port is taken after the check (here: there is no check): the sender exits with its
    own line, and the supervisor names the port and the flag."""
    database_url = f"sqlite+aiosqlite:///{tmp_path}/dev.db"
    await asyncio.to_thread(upgrade, database_url)
    router_port = free_port()
    with listening() as taken:
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SUPERVISOR,
            database_url,
            str(router_port),
            str(taken),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(supervisor.communicate(), 90)
    assert supervisor.returncode == 1
    lines = err.decode().splitlines()
    assert "Traceback" not in err.decode()
    assert (
        f"error: port {taken} (sender) is already in use on 127.0.0.1; "
        "choose another with --sender-port"
    ) in lines
    assert (
        f"error: sender: port {taken} on 127.0.0.1 is already in use; "
        "choose another with --port or NUMPROXY_SENDER_PORT"
    ) in lines  # the sender's own line
    assert not port_open(router_port)  # what had started was stopped


async def test_environment_wins_banner_and_no_orphans_after_sigkill(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "NUMPROXY_SENDER_RATE_LIMIT": "0",  # the stack's default is 30/s
        "NUMPROXY_SENDER_LOG_FORMAT": "json",
    }
    dev = await asyncio.create_subprocess_exec(
        NUMPROXY,
        "dev",
        *port_flags(ports),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert dev.stdout is not None and dev.stderr is not None
    logs: list[str] = []

    async def drain(stream: asyncio.StreamReader) -> None:
        async for line in stream:
            logs.append(line.decode())

    draining = asyncio.create_task(drain(dev.stderr))
    pids: dict[int, str] = {}
    try:
        banner = ""
        while "Ctrl-C stops everything" not in banner:
            line = await asyncio.wait_for(dev.stdout.readline(), 120)
            assert line, f"numproxy dev exited early: {banner}{''.join(logs)}"
            banner += line.decode()

        # Where everything is.
        host = "http://127.0.0.1"
        for expected in (
            f"console    {host}:{ports['console']}",
            f"phones     {host}:{ports['simulator']}/_sim/phones?to=%2B12025550105",
            f"lobby      127.0.0.1:{ports['lobby']}",
            f"router     127.0.0.1:{ports['router']}",
            f"sender     127.0.0.1:{ports['sender']}",
            f"{host}:{ports['gateway']}/webhooks/inbound-sms",
            f"{host}:{ports['gateway']}/webhooks/delivery-receipt",
            f"{host}:{ports['gateway']}/webhooks/inbound-message",
            f"simulator  {host}:{ports['simulator']}",
        ):
            assert expected in banner

        # The sender runs with the exported rate limit, not the stack's default.
        sender_lines = [json.loads(line) for line in logs if '"service": "sender"' in line]
        assert any(
            entry["message"] == f"sending to {host}:{ports['simulator']}, rate limit none"
            for entry in sender_lines
        ), sender_lines

        pids = children(dev.pid)
        started = sorted(cmd.split("-m numproxy.")[1].strip() for cmd in pids.values())
        assert started == sorted(SERVICES)
    finally:
        dev.kill()  # SIGKILL: no handler runs, nothing is stopped in order
        await dev.wait()
    assert dev.returncode == -signal.SIGKILL

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while any(alive(pid) for pid in pids) or any(port_open(p) for p in ports.values()):
        assert loop.time() < deadline, {pid: cmd for pid, cmd in pids.items() if alive(pid)}
        await asyncio.sleep(0.2)
    draining.cancel()
