"""PoolService over real gRPC (the router on port 0): the contract, status codes, ErrorInfo."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from numproxy.v1 import pool_pb2, pool_pb2_grpc
from tests.support.router_sessions import UK1, US1, US2, router_channel, rpc_error


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[pool_pb2_grpc.PoolServiceStub]:
    async with router_channel(database_url) as channel:
        yield pool_pb2_grpc.PoolServiceStub(channel)


async def test_pool_lifecycle(pools: pool_pb2_grpc.PoolServiceStub) -> None:
    created = await pools.CreatePool(
        pool_pb2.CreatePoolRequest(
            pool_id="sellers",
            pool=pool_pb2.Pool(
                default_ttl=Duration(seconds=3600),
                out_of_session_policy=pool_pb2.OUT_OF_SESSION_POLICY_REPLY,
                out_of_session_reply="Conversation over.",
                reply_interval=Duration(seconds=300),
            ),
        )
    )
    assert created.pool.name == "pools/sellers"
    assert created.pool.default_ttl.seconds == 3600
    assert created.pool.default_lifetime.seconds == 0
    assert created.pool.out_of_session_policy == pool_pb2.OUT_OF_SESSION_POLICY_REPLY
    assert created.pool.reply_interval.seconds == 300
    assert created.pool.create_time.seconds > 0

    added = await pools.AddNumbers(
        pool_pb2.AddNumbersRequest(pool="pools/sellers", numbers=["15557000001", UK1])
    )
    assert [(n.number, n.pool, n.state) for n in added.numbers] == [
        (US1, "pools/sellers", pool_pb2.NUMBER_STATE_ACTIVE),
        (UK1, "pools/sellers", pool_pb2.NUMBER_STATE_ACTIVE),
    ]
    got = await pools.GetPool(pool_pb2.GetPoolRequest(name="sellers"))
    assert got.pool.number_count == 2

    removed = await pools.RemoveNumber(pool_pb2.RemoveNumberRequest(pool="sellers", number=UK1))
    assert removed.number.state == pool_pb2.NUMBER_STATE_DRAINING
    listed = await pools.ListNumbers(pool_pb2.ListNumbersRequest(pool="pools/sellers"))
    assert [(n.number, n.state, n.active_participants) for n in listed.numbers] == [
        (US1, pool_pb2.NUMBER_STATE_ACTIVE, 0),
        (UK1, pool_pb2.NUMBER_STATE_DRAINING, 0),
    ]
    page = await pools.ListPools(pool_pb2.ListPoolsRequest(page_size=1))
    assert [p.name for p in page.pools] == ["pools/sellers"]
    assert page.next_page_token == ""


async def test_pool_errors(pools: pool_pb2_grpc.PoolServiceStub) -> None:
    await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="a"))
    await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="b"))
    await pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="a", numbers=[US1]))
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases = [
        (pools.GetPool(pool_pb2.GetPoolRequest(name="pools/zzz")), "NOT_FOUND", "POOL_NOT_FOUND"),
        (pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="a")), "ALREADY_EXISTS", None),
        (pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="A!")), invalid, "INVALID_POOL_ID"),
        (
            pools.CreatePool(
                pool_pb2.CreatePoolRequest(
                    pool_id="c", pool=pool_pb2.Pool(default_ttl=Duration(seconds=-1))
                )
            ),
            invalid,
            "INVALID_DURATION",
        ),
        (
            pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="b", numbers=[US2, US1])),
            "ALREADY_EXISTS",
            "NUMBER_IN_OTHER_POOL",
        ),
        (
            pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="b", numbers=["x1"])),
            invalid,
            "INVALID_NUMBER",
        ),
        (
            pools.RemoveNumber(pool_pb2.RemoveNumberRequest(pool="b", number=US1)),
            "NOT_FOUND",
            "NUMBER_NOT_FOUND",
        ),
        (pools.ListPools(pool_pb2.ListPoolsRequest(page_size=-1)), invalid, "INVALID_PAGE_SIZE"),
        (
            pools.ListNumbers(pool_pb2.ListNumbersRequest(page_token="nope")),
            invalid,
            "INVALID_PAGE_TOKEN",
        ),
    ]
    for call, code, reason in cases:
        got_code, got_reason, _ = await rpc_error(call)
        expected_code = getattr(grpc.StatusCode, code) if isinstance(code, str) else code
        assert got_code == expected_code
        assert got_reason == (reason or "POOL_ALREADY_EXISTS")
    # Nothing half-done: pool b is still empty.
    listed = await pools.ListNumbers(pool_pb2.ListNumbersRequest(pool="b"))
    assert list(listed.numbers) == []
