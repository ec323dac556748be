"""Scope boundaries with real processes: a router process whose callers are known only by the
client certificate each presents (the test CA's), its policy from NUMPROXY_ROUTER_CALLERS, and
the audit trail it keeps of what each did."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from numproxy.common.grpc_client import open_channel
from numproxy.common.local_ca import ensure_local_ca
from numproxy.common.scopes import Scope
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    pool_pb2,
    pool_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.support.router_inbound import eventually
from tests.support.router_sessions import ALICE, BOB, CAROL, DAVE, router_process, rpc_error
from tests.support.tls import client_tls, shared_ca_dir

DENIED = grpc.StatusCode.PERMISSION_DENIED
POOL_A = ["+15557100001", "+15557100002"]
POOL_B = ["+15557200001", "+15557200002"]
CALLERS = {
    "admin": {"scopes": sorted(Scope)},
    "gateway": {"scopes": [Scope.INBOUND]},
    "reader": {"scopes": [Scope.SESSIONS_READ]},
    "shop": {"scopes": [Scope.SESSIONS_READ, Scope.SESSIONS_WRITE], "pools": ["a"]},
}

Call = Callable[[str], Awaitable[object]]


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "numproxy.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def pair(a: str, b: str, pool: str) -> session_pb2.CreateSessionRequest:
    return session_pb2.CreateSessionRequest(
        participants=[session_pb2.ParticipantSpec(number=n) for n in (a, b)], pool=pool
    )


class Caller:
    """The router's APIs over a channel presenting ``name``'s certificate."""

    def __init__(self, address: str, name: str) -> None:
        self.channel = open_channel(address, client_tls(name))
        self.sessions = session_pb2_grpc.SessionServiceStub(self.channel)
        self.pools = pool_pb2_grpc.PoolServiceStub(self.channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(self.channel)
        self.inbound = inbound_pb2_grpc.InboundServiceStub(self.channel)


@pytest.fixture
async def callers(sqlite_url: str) -> AsyncIterator[dict[str, Caller]]:
    # Certificates of the test CA for the apps of this test (the services' exist already).
    ensure_local_ca(shared_ca_dir(), ["reader", "shop"])
    with router_process(sqlite_url, NUMPROXY_ROUTER_CALLERS=json.dumps(CALLERS)) as router:
        await router.wait_serving()
        by_name = {name: Caller(router.address, name) for name in CALLERS}
        admin = by_name["admin"]
        for pool, numbers in (("a", POOL_A), ("b", POOL_B)):
            await admin.pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id=pool))
            await admin.pools.AddNumbers(pool_pb2.AddNumbersRequest(pool=pool, numbers=numbers))
        try:
            yield by_name
        finally:
            for caller in by_name.values():
                await caller.channel.close(grace=None)


async def test_each_scope_boundary_holds_for_certificate_callers(
    callers: dict[str, Caller],
) -> None:
    reader, shop, gateway = callers["reader"], callers["shop"], callers["gateway"]

    # sessions:read lists but cannot create.
    code, reason, metadata = await rpc_error(reader.sessions.CreateSession(pair(ALICE, BOB, "a")))
    assert (code, reason, metadata) == (DENIED, "MISSING_SCOPE", {"scope": "sessions:write"})

    # The gateway's identity delivers inbound SMS but cannot use the Session API.
    code, reason, _ = await rpc_error(
        gateway.sessions.ListSessions(session_pb2.ListSessionsRequest())
    )
    assert (code, reason) == (DENIED, "MISSING_SCOPE")
    delivered = await gateway.inbound.ReceiveSms(
        inbound_pb2.ReceiveSmsRequest(
            message_id="boundary-1",
            api_key="key",
            from_number=CAROL,
            to_number=POOL_B[0],
            text="hi",
        )
    )
    # No session yet and pool b drops what comes outside one: routed, and dropped.
    assert delivered.outcome == inbound_pb2.INBOUND_OUTCOME_DROPPED

    # Limited to pool a: creates there, cannot create in b nor see b's sessions.
    in_a = await shop.sessions.CreateSession(pair(ALICE, BOB, "a"))
    assert in_a.session.pool == "pools/a"
    code, reason, _ = await rpc_error(shop.sessions.CreateSession(pair(CAROL, DAVE, "b")))
    assert (code, reason) == (DENIED, "POOL_NOT_ALLOWED")
    in_b = await callers["admin"].sessions.CreateSession(pair(CAROL, DAVE, "b"))
    get_b = session_pb2.GetSessionRequest(name=in_b.session.name)
    code, reason, _ = await rpc_error(shop.sessions.GetSession(get_b))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    listed = await shop.sessions.ListSessions(session_pb2.ListSessionsRequest())
    assert [s.name for s in listed.sessions] == [in_a.session.name]
    # The reader, not limited, sees both.
    everything = await reader.sessions.ListSessions(session_pb2.ListSessionsRequest())
    assert {s.name for s in everything.sessions} == {in_a.session.name, in_b.session.name}

    # The audit shows each caller's calls by certificate name, refused ones included.
    admin_audit = callers["admin"].audit
    seen: list[tuple[str, str, str]] = []

    async def audited() -> bool:
        page = await admin_audit.ListAuditEntries(audit_pb2.ListAuditEntriesRequest())
        seen[:] = [(e.caller, e.method.rsplit("/", 1)[1], e.code) for e in page.entries]
        return ("shop", "CreateSession", "PERMISSION_DENIED") in seen

    await eventually(audited)
    assert ("reader", "CreateSession", "PERMISSION_DENIED") in seen
    assert ("gateway", "ListSessions", "PERMISSION_DENIED") in seen
    assert ("shop", "CreateSession", "OK") in seen
    assert ("admin", "CreateSession", "OK") in seen
