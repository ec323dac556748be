"""``numproxy pool ...`` and ``numproxy session ...``: the public API from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from numproxy.cli import events
from numproxy.cli.output import (
    audit_line,
    dump_json,
    interaction_line,
    number_line,
    pool_line,
    session_line,
    to_dict,
)
from numproxy.client import NumproxyClient

Command = Callable[[NumproxyClient, argparse.Namespace], Awaitable[str]]


# Flags of ``pool create`` / ``pool update`` -> keywords of create_pool / update_pool.
_POOL_SETTINGS = {
    "ttl": "default_ttl",
    "lifetime": "default_lifetime",
    "policy": "out_of_session_policy",
    "reply": "out_of_session_reply",
    "reply_interval": "reply_interval",
    "max_participants": "max_participants",
    "hook_address": "hook_address",
    "hook_deadline": "hook_deadline",
    "hook_failure_mode": "hook_failure_mode",
    "resolve_out_of_session": "resolve_out_of_session",
    "intercept_messages": "intercept_messages",
    "end_command": "end_command",
    "open_notice": "open_notice",
    "close_notice": "close_notice",
    "prefix_display_name": "prefix_display_name",
}


def _pool_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The pool settings given on the command line (flags left out are not sent)."""
    given = {key: getattr(args, flag) for flag, key in _POOL_SETTINGS.items()}
    return {key: value for key, value in given.items() if value is not None}


async def pool_create(client: NumproxyClient, args: argparse.Namespace) -> str:
    pool = await client.create_pool(args.name, **_pool_settings(args))
    return dump_json(to_dict(pool)) if args.json else pool_line(pool)


async def pool_update(client: NumproxyClient, args: argparse.Namespace) -> str:
    settings = _pool_settings(args)
    if not settings:
        raise argparse.ArgumentTypeError("pool update needs at least one setting to change")
    pool = await client.update_pool(args.name, **settings)
    return dump_json(to_dict(pool)) if args.json else pool_line(pool)


async def pool_get(client: NumproxyClient, args: argparse.Namespace) -> str:
    pool = await client.get_pool(args.name)
    return dump_json(to_dict(pool)) if args.json else pool_line(pool)


async def pool_list(client: NumproxyClient, args: argparse.Namespace) -> str:
    pools = [pool async for pool in client.iter_pools()]
    if args.json:
        return dump_json([to_dict(p) for p in pools])
    return "\n".join(pool_line(p) for p in pools) or "(no pools)"


async def pool_numbers(client: NumproxyClient, args: argparse.Namespace) -> str:
    numbers = [n async for n in client.iter_numbers(args.name or "")]
    if args.json:
        return dump_json([to_dict(n) for n in numbers])
    return "\n".join(number_line(n) for n in numbers) or "(no numbers)"


async def pool_add_numbers(client: NumproxyClient, args: argparse.Namespace) -> str:
    numbers = await client.add_numbers(args.pool, args.numbers)
    if args.json:
        return dump_json([to_dict(n) for n in numbers])
    return "\n".join(number_line(n) for n in numbers)


async def pool_remove_number(client: NumproxyClient, args: argparse.Namespace) -> str:
    number = await client.remove_number(args.pool, args.number)
    return dump_json(to_dict(number)) if args.json else number_line(number)


def _pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments of a repeatable ``option`` as a dict."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{option} takes KEY=VALUE, got {pair!r}")
        result[key] = value
    return result


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _per_participant(
    numbers: list[str], first_two: tuple[str | None, str | None], by_number: dict[str, str]
) -> list[str]:
    """One value per participant: ``--x-a``/``--x-b`` for the first two, ``--x NUMBER=V`` for
    any (numbers compared by their digits)."""
    values = [*(v or "" for v in first_two), *[""] * len(numbers)][: len(numbers)]
    wanted = {_digits(number): value for number, value in by_number.items()}
    known = {_digits(number) for number in numbers}
    unknown = [number for number in by_number if _digits(number) not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"{unknown[0]!r} is not one of the session's numbers")
    return [
        wanted.get(_digits(number), value) for number, value in zip(numbers, values, strict=True)
    ]


async def session_create(client: NumproxyClient, args: argparse.Namespace) -> str:
    if len(args.numbers) < 2:
        raise argparse.ArgumentTypeError("session create needs at least two numbers: A B [C ...]")
    session = await client.create_session(
        *args.numbers,
        pool=args.pool,
        ttl=args.ttl,
        expire_time=args.expire_time,
        metadata=_pairs(args.metadata, "--metadata"),
        request_id=args.request_id or "",
        display_names=_per_participant(
            args.numbers, (args.name_a, args.name_b), _pairs(args.name, "--name")
        ),
        greetings=_per_participant(
            args.numbers, (args.greeting_a, args.greeting_b), _pairs(args.greeting, "--greeting")
        ),
        close_notice=args.close_notice or "",
    )
    # Always JSON: scripts read the session id and proxy numbers from it.
    return dump_json(to_dict(session))


async def session_send(client: NumproxyClient, args: argparse.Namespace) -> str:
    interaction = await client.send_message(
        args.id, args.to, args.text, request_id=args.request_id or ""
    )
    return dump_json(to_dict(interaction)) if args.json else interaction_line(interaction)


async def session_add(client: NumproxyClient, args: argparse.Namespace) -> str:
    session = await client.add_participant(
        args.id, args.number, display_name=args.name or "", greeting=args.greeting or ""
    )
    return dump_json(to_dict(session)) if args.json else session_line(session)


async def session_remove(client: NumproxyClient, args: argparse.Namespace) -> str:
    session = await client.remove_participant(args.id, args.number)
    return dump_json(to_dict(session)) if args.json else session_line(session)


async def session_get(client: NumproxyClient, args: argparse.Namespace) -> str:
    session = await client.get_session(args.id)
    return dump_json(to_dict(session)) if args.json else session_line(session)


async def session_list(client: NumproxyClient, args: argparse.Namespace) -> str:
    sessions = [
        s
        async for s in client.iter_sessions(
            participant_number=args.participant or "",
            status=args.status or "",
            pool=args.pool or "",
            request_id=args.request_id or "",
            metadata=_pairs(args.metadata, "--metadata"),
        )
    ]
    if args.json:
        return dump_json([to_dict(s) for s in sessions])
    return "\n".join(session_line(s) for s in sessions) or "(no sessions)"


async def session_update(client: NumproxyClient, args: argparse.Namespace) -> str:
    if args.ttl is None and args.expire_time is None:
        raise argparse.ArgumentTypeError("session update needs --ttl and/or --expire-time")
    session = await client.update_session(args.id, ttl=args.ttl, expire_time=args.expire_time)
    return dump_json(to_dict(session)) if args.json else session_line(session)


async def session_close(client: NumproxyClient, args: argparse.Namespace) -> str:
    session = await client.close_session(args.id)
    return dump_json(to_dict(session)) if args.json else session_line(session)


async def session_delete(client: NumproxyClient, args: argparse.Namespace) -> str:
    await client.delete_session(args.id)
    return dump_json({"deleted": args.id}) if args.json else f"deleted {args.id}"


async def session_interactions(client: NumproxyClient, args: argparse.Namespace) -> str:
    items = [i async for i in client.iter_interactions(args.id)]
    if args.json:
        return dump_json([to_dict(i) for i in items])
    return "\n".join(interaction_line(i) for i in items) or "(no interactions)"


async def audit_list(client: NumproxyClient, args: argparse.Namespace) -> str:
    entries = []
    async for entry in client.iter_audit_entries(
        caller=args.caller or "",
        method=args.method or "",
        session=args.session or "",
        pool=args.pool or "",
        since=args.since,
        until=args.until,
    ):
        entries.append(entry)
        if len(entries) >= args.limit:
            break
    if args.json:
        return dump_json([to_dict(e) for e in entries])
    return "\n".join(audit_line(e) for e in entries) or "(no audit entries)"


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return int(value)


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"seconds must not be negative, got {value}")
    return number


def timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2030-01-31T12:00:00+00:00, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. +00:00 or Z) in {value!r}")
    return parsed


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``pool``, ``session``, ``events`` and ``audit`` with their sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--router", default="127.0.0.1:50051", metavar="HOST:PORT", help="router address"
    )
    common.add_argument("--json", action="store_true", help="print JSON")

    pool = sub.add_parser("pool", help="pools of proxy numbers").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = pool.add_parser("create", parents=[common], help="create a pool")
    p.add_argument("name")
    _pool_setting_flags(p)
    p.set_defaults(command=pool_create)
    p = pool.add_parser("update", parents=[common], help="change a pool's settings")
    p.add_argument("name")
    _pool_setting_flags(p)
    p.set_defaults(command=pool_update)
    p = pool.add_parser("get", parents=[common], help="show a pool")
    p.add_argument("name")
    p.set_defaults(command=pool_get)
    p = pool.add_parser("list", parents=[common], help="list pools")
    p.set_defaults(command=pool_list)
    p = pool.add_parser("numbers", parents=[common], help="list numbers with usage")
    p.add_argument("name", nargs="?", help="only this pool's numbers")
    p.set_defaults(command=pool_numbers)
    p = pool.add_parser("add-numbers", parents=[common], help="add proxy numbers to a pool")
    p.add_argument("pool")
    p.add_argument("numbers", nargs="+", metavar="NUMBER")
    p.set_defaults(command=pool_add_numbers)
    p = pool.add_parser("remove-number", parents=[common], help="drain a number")
    p.add_argument("pool")
    p.add_argument("number")
    p.set_defaults(command=pool_remove_number)

    session = sub.add_parser("session", help="proxied sessions").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = session.add_parser("create", parents=[common], help="open a session (prints JSON)")
    p.add_argument(
        "numbers", nargs="+", metavar="NUMBER", help="every participant's real number (2 to 10)"
    )
    p.add_argument("--pool", default="default")
    p.add_argument("--ttl", type=seconds, help="idle TTL, seconds")
    p.add_argument("--expire-time", type=timestamp, help="absolute expiry, ISO-8601")
    p.add_argument("--request-id", help="idempotency key")
    p.add_argument("--name-a", help="display name of A")
    p.add_argument("--name-b", help="display name of B")
    p.add_argument("--greeting-a", help="text sent to A from A's proxy number on creation")
    p.add_argument("--greeting-b", help="text sent to B from B's proxy number on creation")
    p.add_argument(
        "--name", action="append", default=[], metavar="NUMBER=NAME", help="any participant's"
    )
    p.add_argument(
        "--greeting", action="append", default=[], metavar="NUMBER=TEXT", help="any participant's"
    )
    p.add_argument("--close-notice", help="text sent to every participant when it closes")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(command=session_create)
    p = session.add_parser("send", parents=[common], help="text a participant (system text)")
    p.add_argument("id", metavar="ID")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--to", required=True, metavar="NUMBER", help="the participant's real number")
    p.add_argument("--request-id", help="idempotency key")
    p.set_defaults(command=session_send)
    p = session.add_parser("add", parents=[common], help="add a participant to an open session")
    p.add_argument("id", metavar="ID")
    p.add_argument("number", metavar="NUMBER")
    p.add_argument("--name", help="display name")
    p.add_argument("--greeting", help="text sent to them from their proxy number")
    p.set_defaults(command=session_add)
    p = session.add_parser("remove", parents=[common], help="remove a participant")
    p.add_argument("id", metavar="ID")
    p.add_argument("number", metavar="NUMBER")
    p.set_defaults(command=session_remove)
    for action, func, help_text in (
        ("get", session_get, "show a session"),
        ("close", session_close, "close a session"),
        ("delete", session_delete, "erase a session and its interactions"),
        ("interactions", session_interactions, "list a session's messages"),
    ):
        p = session.add_parser(action, parents=[common], help=help_text)
        p.add_argument("id", metavar="ID")
        p.set_defaults(command=func)
    p = session.add_parser("list", parents=[common], help="list sessions")
    p.add_argument("--participant", metavar="NUMBER", help="only sessions with this number")
    p.add_argument("--status", choices=["open", "in_progress", "closed"])
    p.add_argument("--pool")
    p.add_argument("--request-id", help="only the session created with this request id")
    p.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="all must match"
    )
    p.set_defaults(command=session_list)
    p = session.add_parser("update", parents=[common], help="change ttl / expiry")
    p.add_argument("id", metavar="ID")
    p.add_argument("--ttl", type=seconds, help="idle TTL, seconds")
    p.add_argument("--expire-time", type=timestamp, help="absolute expiry, ISO-8601")
    p.set_defaults(command=session_update)

    audit = sub.add_parser("audit", help="the audit trail (needs audit:read)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = audit.add_parser("list", parents=[common], help="audited calls, newest first")
    p.add_argument("--caller", help="only this caller's calls")
    p.add_argument("--method", help="only this RPC, e.g. /numproxy.v1.SessionService/CreateSession")
    p.add_argument("--session", metavar="ID", help="only calls about this session")
    p.add_argument("--pool", help="only calls about this pool")
    p.add_argument("--since", type=timestamp, help="from this time on, ISO-8601")
    p.add_argument("--until", type=timestamp, help="before this time, ISO-8601")
    p.add_argument("--limit", type=positive, default=100, help="at most this many (100)")
    p.set_defaults(command=audit_list)

    events.add_commands(sub, common)


def _pool_setting_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ttl", type=seconds, help="default idle TTL of its sessions, seconds")
    p.add_argument("--lifetime", type=seconds, help="default absolute lifetime, seconds")
    p.add_argument("--policy", choices=["drop", "reply"], help="out-of-session policy")
    p.add_argument("--reply", help="out-of-session reply text (with --policy reply)")
    p.add_argument("--reply-interval", type=seconds, help="at most one reply per sender per …")
    p.add_argument("--max-participants", type=int, metavar="N", help="2-10 per session")
    p.add_argument("--hook-address", metavar="HOST:PORT", help="the app's HookService")
    p.add_argument("--hook-deadline", type=seconds, help="per hook call, seconds (0.1-5)")
    p.add_argument("--hook-failure-mode", choices=["fail_open", "fail_closed"])
    on_off = argparse.BooleanOptionalAction
    p.add_argument("--resolve-out-of-session", action=on_off, help="call ResolveOutOfSession")
    p.add_argument("--intercept-messages", action=on_off, help="call InterceptMessage")
    p.add_argument("--end-command", help="text that ends a session for everyone, e.g. #end")
    p.add_argument("--open-notice", help="sent to each participant of a new session")
    p.add_argument("--close-notice", help="sent to every participant when a session closes")
    p.add_argument(
        "--prefix-display-name", action=on_off, help="prefix forwarded texts with the name"
    )


async def run_command(args: argparse.Namespace) -> str:
    command: Command = args.command
    async with NumproxyClient(args.router) as client:
        return await command(client, args)
