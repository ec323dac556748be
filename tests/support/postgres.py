"""A private, throw-away PostgreSQL cluster for tests (initdb + pg_ctl on a free port).

Run as root, the cluster is owned by the ``postgres`` system user (initdb refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    for candidate in (os.environ.get("NUMPROXY_TEST_PG_BINDIR"), shutil.which("pg_ctl")):
        if candidate:
            path = Path(candidate)
            return path if path.is_dir() else path.resolve().parent
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PostgresUnavailable("no pg_ctl on PATH and no pg_config") from exc
    bindir = Path(out.stdout.strip())
    if not (bindir / "pg_ctl").exists():
        raise PostgresUnavailable(f"{bindir} has no pg_ctl (install the postgresql package)")
    return bindir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    bindir: Path
    datadir: Path
    run_as: str | None

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://postgres@{self.host}:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["su", self.run_as, "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in args)]

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses={self.host}"
        options += " -c max_connections=300 -c fsync=off -c synchronous_commit=off"
        self.pg_ctl("-o", options, "-l", str(self.datadir / "server.log"), "-w", "start")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh cluster on a free port; stop and delete it afterwards."""
    bindir = find_bindir()
    run_as = "postgres" if os.geteuid() == 0 else None
    workdir = Path(tempfile.mkdtemp(prefix="numproxy-pg-"))
    datadir = workdir / "data"
    datadir.mkdir()
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(workdir, user.pw_uid, user.pw_gid)
        os.chown(datadir, user.pw_uid, user.pw_gid)
    server = PostgresServer("127.0.0.1", free_port(), bindir, datadir, run_as)
    subprocess.run(
        server._cmd(
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ),
        check=True,
        capture_output=True,
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
