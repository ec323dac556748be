"""numproxy: run a service, the local stack, drive pools and sessions, watch events."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

from numproxy import __version__
from numproxy.cli.admin import add_commands, run_command
from numproxy.cli.events import interrupted
from numproxy.client import NumproxyError

if TYPE_CHECKING:
    from numproxy.cli.stack import StackConfig

SERVICE_HELP = {
    "gateway": "run the gateway (Vonage webhooks -> router)",
    "router": "run the router (sessions, pools, routing); `router migrate` migrates",
    "sender": "run the sender (Vonage SMS API)",
    "simulator": "run the Vonage simulator",
    "console": "run the operator console (web); `console hash-password` hashes a password",
    "lobby": "run the lobby demo app (pairs strangers by email); `lobby migrate` makes its tables",
}


class Parser(argparse.ArgumentParser):
    """Usage errors print one line and exit 1, like every other CLI error."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message} (see --help)\n")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="numproxy", description=__doc__)
    parser.add_argument("--version", action="version", version=f"numproxy {__version__}")
    sub = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    sub._parser_class = Parser  # sub-commands share the error style

    for name, help_text in SERVICE_HELP.items():
        # Listed here for --help; `main` hands everything after the name to the service's own
        # parser, the one `python -m numproxy.<service>` uses (see `numproxy NAME --help`).
        p = sub.add_parser(name, help=f"{help_text}; --port, --host, ... (see its --help)")
        p.add_argument("args", nargs=argparse.REMAINDER)
        p.set_defaults(service=name)

    dev = sub.add_parser(
        "dev",
        help="run the whole stack locally (SQLite + simulator)",
        description="Run router, sender, simulator and gateway as supervised local processes, "
        "with the lobby demo and the operator console beside them.",
    )
    dev.add_argument(
        "--database-url",
        default=os.environ.get("NUMPROXY_ROUTER_DATABASE_URL", ""),
        help="SQLAlchemy URL (default: $NUMPROXY_ROUTER_DATABASE_URL, else SQLite in .numproxy/)",
    )
    dev.add_argument(
        "--numbers",
        help="comma-separated proxy numbers of the 'default' pool (default: four 555 numbers)",
    )
    dev.add_argument("--host", default=os.environ.get("NUMPROXY_DEV_HOST", "127.0.0.1"))
    dev.add_argument("--gateway-port", type=int, default=env_int("NUMPROXY_GATEWAY_PORT", 8080))
    dev.add_argument("--router-port", type=int, default=env_int("NUMPROXY_ROUTER_PORT", 50051))
    dev.add_argument("--sender-port", type=int, default=env_int("NUMPROXY_SENDER_PORT", 50052))
    dev.add_argument("--simulator-port", type=int, default=env_int("NUMPROXY_SIMULATOR_PORT", 8090))
    dev.add_argument("--console-port", type=int, default=env_int("NUMPROXY_CONSOLE_PORT", 8070))
    dev.add_argument("--lobby-port", type=int, default=env_int("NUMPROXY_LOBBY_PORT", 50061))
    dev.add_argument(
        "--signature-secret",
        default=os.environ.get("NUMPROXY_DEV_SIGNATURE_SECRET", ""),
        help="sign webhooks (simulator) and require signatures (gateway) with this secret "
        "(default: a random one kept in .numproxy/signature-secret)",
    )
    dev.add_argument(
        "--signature-method",
        default="sha256",
        choices=["md5hash", "md5", "sha1", "sha256", "sha512"],
    )
    dev.set_defaults(service="dev")

    add_commands(sub)
    return parser


def run_service(name: str, argv: Sequence[str] = ()) -> int:
    module = import_module(f"numproxy.{name}.__main__")
    result: int = module.main(list(argv))
    return result


def dev_config(args: argparse.Namespace, state: Path) -> StackConfig:
    """The stack ``numproxy dev`` runs: its state (SQLite database, signature secret) in
    ``state``; webhooks are signed with ``--signature-secret`` or the state's own secret."""
    from numproxy.cli.dev import dev_signature_secret
    from numproxy.cli.stack import StackConfig
    from numproxy.common.vonage_signing import SignatureMethod

    state.mkdir(exist_ok=True)
    return StackConfig(
        database_url=args.database_url or f"sqlite+aiosqlite:///{state}/dev.db",
        host=args.host,
        gateway_port=args.gateway_port,
        router_port=args.router_port,
        sender_port=args.sender_port,
        simulator_port=args.simulator_port,
        console_port=args.console_port,
        lobby_port=args.lobby_port,
        signature_secret=args.signature_secret or dev_signature_secret(state),
        signature_method=cast(SignatureMethod, args.signature_method),  # argparse choices
    )


def dev(args: argparse.Namespace) -> int:
    from numproxy.cli.dev import DEFAULT_NUMBERS, run_dev
    from numproxy.common.errors import InvalidArgument
    from numproxy.common.numbers import normalize

    try:
        numbers = (
            [normalize(n, field="--numbers") for n in args.numbers.split(",") if n.strip()]
            if args.numbers
            else list(DEFAULT_NUMBERS)
        )
    except InvalidArgument as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return run_dev(dev_config(args, Path(".numproxy")), numbers)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SERVICE_HELP:
        return run_service(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.group == "dev":
            return dev(args)
        output = asyncio.run(run_command(args))
        if output:  # commands that stream print as they go
            print(output)
        return 0
    except NumproxyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except argparse.ArgumentTypeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted(args)


if __name__ == "__main__":
    sys.exit(main())
