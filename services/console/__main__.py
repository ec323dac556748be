"""Composition root of the console: settings -> logging -> router channel -> app -> uvicorn.

``numproxy console hash-password`` prints a password hash for NUMPROXY_CONSOLE_USERS.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence

from numproxy.common.grpc_client import open_channel
from numproxy.common.http_server import serve_http
from numproxy.common.logging import configure_logging
from numproxy.common.service_command import serve, service_parser, settings_from_args
from numproxy.console.app import create_app
from numproxy.console.audit import AuditLog
from numproxy.console.passwords import AccountError, hash_password, parse_accounts
from numproxy.console.router_api import GrpcRouter
from numproxy.console.settings import ConsoleSettings

log = logging.getLogger(__name__)


async def run(settings: ConsoleSettings) -> None:
    """Serve the console until SIGTERM/SIGINT, then close the router channel."""
    channel = open_channel(settings.router_address)
    router = GrpcRouter(channel, settings.router_address, settings.router_timeout)
    app = create_app(settings, router, AuditLog(settings.audit_file))
    mode = "local-dev (no authentication)" if settings.local_dev else "authenticated"
    log.info(
        "console on %s:%d, %s, router %s",
        settings.host,
        settings.port,
        mode,
        settings.router_address,
    )
    try:
        await serve_http(app, settings.host, settings.port, settings.shutdown_grace)
    finally:
        await channel.close(None)


def print_hash() -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "hash-password":
        return print_hash()
    settings = settings_from_args(ConsoleSettings, args)
    try:
        parse_accounts(settings.users.get_secret_value())
    except AccountError as exc:
        print(f"invalid configuration: NUMPROXY_CONSOLE_USERS: {exc}", file=sys.stderr)
        return 2
    configure_logging("console", settings.log_level, settings.log_format)
    return serve("console", run(settings))


def build_parser() -> argparse.ArgumentParser:
    return service_parser(
        "console",
        ConsoleSettings,
        "Operator console (web). Settings: the flags below or NUMPROXY_CONSOLE_* variables "
        "(USERS and SECRET_KEY only as variables).",
        actions={"hash-password": "read a password (prompt or stdin), print its hash for USERS"},
    )


if __name__ == "__main__":
    raise SystemExit(main())
