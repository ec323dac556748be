"""Pool settings (max participants, hooks, end command, notices, display-name prefix): the
domain on both databases, UpdatePool over real gRPC with the client, and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.cli.main import main as cli
from numproxy.client import InvalidArgumentError, NotFoundError, NumproxyClient
from numproxy.common.errors import InvalidArgument
from numproxy.router.sessions import pool_settings
from numproxy.router.sessions.pools import PoolSpec
from numproxy.v1 import pool_pb2
from tests.support.router_sessions import (
    api_router,
    api_router_settings,
    make_domain,
    router_channel,
)

FULL = PoolSpec(
    max_participants=3,
    hook_address="hooks.internal:50070",
    hook_deadline=timedelta(milliseconds=750),
    hook_failure_mode="FAIL_CLOSED",
    hook_resolve=True,
    hook_intercept=True,
    end_command="  #end ",
    open_notice="You're connected.",
    close_notice="This conversation has ended.",
    prefix_display_name=True,
)


async def test_create_and_read_every_setting(engine: AsyncEngine) -> None:
    pools = make_domain(engine).pools

    created = await pools.create_pool("full", FULL)
    plain = await pools.create_pool("plain", PoolSpec())

    assert created == await pools.get_pool("full")
    assert (created.max_participants, created.end_command) == (3, "#end")
    assert (created.hook_address, created.hook_deadline_ms, created.hook_failure_mode) == (
        "hooks.internal:50070",
        750,
        "FAIL_CLOSED",
    )
    assert (created.hook_resolve, created.hook_intercept, created.prefix_display_name) == (
        True,
        True,
        True,
    )
    assert (created.open_notice, created.close_notice) == (
        "You're connected.",
        "This conversation has ended.",
    )
    assert (plain.max_participants, plain.hook_address, plain.hook_deadline_ms) == (10, "", 2000)
    assert (plain.hook_failure_mode, plain.hook_resolve, plain.end_command) == (
        "FAIL_OPEN",
        False,
        "",
    )


async def test_update_changes_only_the_masked_fields(engine: AsyncEngine) -> None:
    pools = make_domain(engine).pools
    await pools.create_pool("p", FULL)

    deadline = await pools.update_pool(
        "pools/p",
        ["hooks.deadline", "max_participants"],
        PoolSpec(hook_deadline=timedelta(seconds=4)),
    )
    cleared = await pools.update_pool("p", ["hooks", "close_notice"], PoolSpec())

    assert (deadline.hook_deadline_ms, deadline.max_participants) == (4000, 10)  # 0 means 10
    assert (deadline.hook_address, deadline.open_notice) == (FULL.hook_address, FULL.open_notice)
    assert (cleared.hook_address, cleared.hook_resolve, cleared.hook_deadline_ms) == (
        "",
        False,
        2000,
    )
    assert (cleared.close_notice, cleared.end_command) == ("", "#end")


@pytest.mark.parametrize(
    ("spec", "reason", "field"),
    [
        (PoolSpec(max_participants=1), "INVALID_MAX_PARTICIPANTS", "max_participants"),
        (PoolSpec(max_participants=11), "INVALID_MAX_PARTICIPANTS", "max_participants"),
        (PoolSpec(hook_address="no-port"), "INVALID_HOOK_ADDRESS", "hooks.address"),
        (PoolSpec(hook_address="h:70000"), "INVALID_HOOK_ADDRESS", "hooks.address"),
        (PoolSpec(hook_address="a b:1"), "INVALID_HOOK_ADDRESS", "hooks.address"),
        (PoolSpec(hook_address="h" * 252 + ".x:1"), "INVALID_HOOK_ADDRESS", "hooks.address"),
        (PoolSpec(hook_resolve=True), "INVALID_HOOK_ADDRESS", "hooks.address"),
        (
            PoolSpec(hook_address="h:1", hook_deadline=timedelta(milliseconds=50)),
            "INVALID_HOOK_DEADLINE",
            "hooks.deadline",
        ),
        (
            PoolSpec(hook_address="h:1", hook_deadline=timedelta(seconds=6)),
            "INVALID_HOOK_DEADLINE",
            "hooks.deadline",
        ),
        (PoolSpec(hook_failure_mode="RETRY"), "INVALID_HOOK_FAILURE_MODE", "hooks.failure_mode"),
        (PoolSpec(end_command="   "), "INVALID_END_COMMAND", "end_command"),
        (PoolSpec(end_command="#" * 65), "INVALID_END_COMMAND", "end_command"),
        (PoolSpec(open_notice="x" * 1601), "INVALID_NOTICE", "open_notice"),
        (PoolSpec(close_notice="x" * 1601), "INVALID_NOTICE", "close_notice"),
    ],
)
async def test_bad_settings_are_refused_with_a_reason(
    engine: AsyncEngine, spec: PoolSpec, reason: str, field: str
) -> None:
    pools = make_domain(engine).pools
    await pools.create_pool("p", PoolSpec())

    for attempt in (
        pools.create_pool("q", spec),
        pools.update_pool(
            "p", ["max_participants", "hooks", "end_command", "open_notice", "close_notice"], spec
        ),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await attempt
        assert (caught.value.reason, caught.value.metadata["field"]) == (reason, field)


@pytest.mark.parametrize(
    ("paths", "spec", "reason"),
    [
        ([], PoolSpec(), "INVALID_UPDATE_MASK"),
        (["name"], PoolSpec(), "INVALID_UPDATE_MASK"),
        (["hooks.colour"], PoolSpec(), "INVALID_UPDATE_MASK"),
        # The merged settings are checked as a create would check them.
        (["out_of_session_policy"], PoolSpec(out_of_session_policy="REPLY"), "INVALID_POLICY"),
    ],
)
def test_bad_updates_are_refused(paths: list[str], spec: PoolSpec, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pool_settings.columns(pool_settings.merge(FULL, spec, paths))
    assert caught.value.reason == reason


async def test_a_refused_update_changes_nothing(engine: AsyncEngine) -> None:
    pools = make_domain(engine).pools
    before = await pools.create_pool("p", FULL)

    with pytest.raises(InvalidArgument):
        await pools.update_pool("p", ["max_participants", "end_command"], PoolSpec(end_command=" "))

    assert await pools.get_pool("p") == before


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[NumproxyClient]:
    async with router_channel(database_url) as channel:
        yield NumproxyClient(channel=channel)


async def test_update_pool_over_grpc(client: NumproxyClient) -> None:
    await client.create_pool(
        "shop", hook_address="127.0.0.1:50070", resolve_out_of_session=True, end_command="#end"
    )

    updated = await client.update_pool(
        "shop", hook_deadline=1.5, hook_failure_mode="fail_closed", intercept_messages=True
    )
    got = await client.get_pool("pools/shop")

    assert got == updated
    assert got.hooks == pool_pb2.PoolHooks(
        address="127.0.0.1:50070",
        deadline=got.hooks.deadline,
        failure_mode=pool_pb2.HOOK_FAILURE_MODE_FAIL_CLOSED,
        resolve_out_of_session=True,
        intercept_messages=True,
    )
    assert got.hooks.deadline.ToMilliseconds() == 1500
    assert (got.max_participants, got.end_command) == (10, "#end")
    assert [p.name for p in (await client.list_pools()).pools] == ["pools/shop"]
    assert (await client.list_pools()).pools[0].hooks.address == "127.0.0.1:50070"

    with pytest.raises(NotFoundError) as missing:
        await client.update_pool("nope", max_participants=3)
    assert missing.value.reason == "POOL_NOT_FOUND"
    with pytest.raises(InvalidArgumentError) as bad:
        await client.update_pool("shop", max_participants=12)
    assert (bad.value.code, bad.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_MAX_PARTICIPANTS",
    )


async def test_pool_create_and_update_from_the_command_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = api_router_settings(database_url)
    async with api_router(config, anonymous="admin") as address:
        common = ["--router", address, "--json"]
        created = await asyncio.to_thread(
            cli,
            [
                "pool",
                "create",
                "desk",
                *common,
                "--max-participants",
                "4",
                "--hook-address",
                "127.0.0.1:50070",
                "--resolve-out-of-session",
                "--end-command",
                "#end",
            ],
        )
        first = json.loads(capsys.readouterr().out)
        updated = await asyncio.to_thread(
            cli,
            [
                "pool",
                "update",
                "desk",
                *common,
                "--no-resolve-out-of-session",
                "--intercept-messages",
                "--hook-deadline",
                "0.5",
                "--close-notice",
                "Bye",
            ],
        )
        second = json.loads(capsys.readouterr().out)
        refused = await asyncio.to_thread(cli, ["pool", "update", "desk", *common])

    assert (created, updated, refused) == (0, 0, 1)
    assert (first["max_participants"], first["end_command"]) == (4, "#end")
    assert first["hooks"]["resolve_out_of_session"] is True
    assert second["hooks"] == {
        "address": "127.0.0.1:50070",
        "deadline": "0.500s",
        "failure_mode": "HOOK_FAILURE_MODE_FAIL_OPEN",
        "intercept_messages": True,
    }
    assert second["close_notice"] == "Bye"
    assert "at least one setting" in capsys.readouterr().err
