"""``numproxy events watch|list``: the event stream as JSON lines, one event per line.

``watch`` follows new events until Ctrl-C (exit 0) and resumes by itself when the router
goes away; give ``--after`` the last cursor printed to resume where an earlier run stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

from numproxy.client import NumproxyClient, event_type, event_type_name
from numproxy.v1 import event_pb2, session_pb2


def event_record(event: event_pb2.Event) -> dict[str, Any]:
    """The JSON object printed for one event."""
    direction = ""
    if event.direction:
        direction = session_pb2.Direction.Name(event.direction).removeprefix("DIRECTION_")
    return {
        "cursor": event.cursor,
        "type": event_type_name(event.type),
        "time": event.create_time.ToDatetime(tzinfo=UTC).isoformat(),
        "pool": event.pool,
        "session": event.session,
        "interaction": event.interaction,
        "participant": event.participant_number,
        "proxy_number": event.proxy_number,
        "reason": event.reason,
        "direction": direction,
    }


async def _print(events: AsyncIterator[event_pb2.Event]) -> str:
    async for event in events:
        print(json.dumps(event_record(event), ensure_ascii=False), flush=True)
    return ""


async def events_watch(client: NumproxyClient, args: argparse.Namespace) -> str:
    return await _print(
        client.watch_events(
            after_cursor=args.after,
            pool=args.pool or "",
            session=args.session or "",
            types=args.type,
            reconnect=True,
        )
    )


async def events_list(client: NumproxyClient, args: argparse.Namespace) -> str:
    return await _print(
        client.iter_events(
            after_cursor=args.after,
            pool=args.pool or "",
            session=args.session or "",
            types=args.type,
        )
    )


def _type(value: str) -> str:
    try:
        event_type(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _cursor(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a cursor is a number >= 0, got {value!r}")
    return int(value)


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    """Register ``events`` with its sub-commands (``common``: --router, --json)."""
    events = sub.add_parser("events", help="the event stream (JSON lines)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for action, func, help_text in (
        ("watch", events_watch, "print events as they happen, until Ctrl-C"),
        ("list", events_list, "print the stored events, then stop"),
    ):
        p = events.add_parser(action, parents=[common], help=help_text)
        p.add_argument("--pool", help="only events of this pool")
        p.add_argument("--session", metavar="ID", help="only events of this session")
        p.add_argument(
            "--type",
            action="append",
            default=[],
            type=_type,
            metavar="TYPE",
            help="only events of this type (repeat for several), e.g. session_closed",
        )
        p.add_argument(
            "--after",
            type=_cursor,
            default=0,
            metavar="CURSOR",
            help="start after this cursor (the last one printed); 0: the oldest retained",
        )
        p.set_defaults(command=func, until_interrupted=action == "watch")


def interrupted(args: argparse.Namespace) -> int:
    """The exit code of a command stopped by Ctrl-C: 0 for a watch (its normal end)."""
    if getattr(args, "until_interrupted", False):
        sys.stdout.flush()
        return 0
    return 130
