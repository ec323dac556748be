"""numproxy.testing.NumproxyStack: the stack other teams start in their integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from numproxy.testing import NumproxyStack, StackStartError

pytestmark = pytest.mark.containers

ALICE, BOB = "+15551110001", "+15552220002"
PROXIES = ["+15550000101", "+15550000102", "+15550000103"]


@pytest.fixture(scope="module")
def stack(numproxy_image: str, postgres_image: str) -> Iterator[NumproxyStack]:
    with NumproxyStack(
        numproxy_image,
        postgres_image=postgres_image,
        signature_secret="stack-test-signature",
        signature_method="sha256",
    ) as running:
        yield running


async def test_a_conversation_in_both_directions(stack: NumproxyStack) -> None:
    async with stack.client() as client:
        await client.create_pool("both-ways")
        await client.add_numbers("both-ways", PROXIES)
        session = await client.create_session(ALICE, BOB, pool="both-ways")
    proxy = {p.number: p.proxy_number for p in session.participants}

    stack.simulator.inbound(ALICE, proxy[ALICE], "hi Bob")
    to_bob = await asyncio.to_thread(stack.simulator.wait_for_sms, to=BOB, text="hi Bob")
    stack.simulator.inbound(BOB, proxy[BOB], "hi Alice")
    to_alice = await asyncio.to_thread(stack.simulator.wait_for_sms, to=ALICE, text="hi Alice")

    # Each side sees the other only as its own proxy number.
    assert to_bob["from"] == proxy[BOB].lstrip("+")
    assert to_alice["from"] == proxy[ALICE].lstrip("+")
    async with stack.client() as client:
        interactions = [i async for i in client.iter_interactions(session.name)]
    # Each text is recorded inbound (as written) and outbound (as relayed).
    recorded = sorted((i.sender_number, i.text) for i in interactions)
    assert sorted(set(recorded)) == [(ALICE, "hi Bob"), (BOB, "hi Alice")]


async def test_the_router_takes_only_the_stacks_certificates(stack: NumproxyStack) -> None:
    from numproxy.client import NumproxyClient, UnavailableError
    from numproxy.common.tls import ClientTls

    async with stack.client() as client:  # the stack's admin certificate
        await client.list_pools()
    ca_only = ClientTls(stack.client_tls.ca)
    for tls in (None, ca_only):  # plaintext, and TLS without a client certificate
        async with NumproxyClient(stack.router_address, tls=tls, timeout=5) as stranger:
            with pytest.raises(UnavailableError):
                await stranger.list_pools()


def test_exposes_addresses_on_loopback(stack: NumproxyStack) -> None:
    assert stack.router_address.startswith("127.0.0.1:")
    assert stack.gateway_url.startswith("http://127.0.0.1:")
    assert stack.database_url.startswith("postgresql+asyncpg://numproxy:")
    assert "@127.0.0.1:" in stack.database_url
    # The control API reaches the simulator: a fault-injection setting round-trips.
    assert stack.simulator.config(latency_ms=5)["latency_ms"] == 5
    assert stack.simulator.config(latency_ms=0)["latency_ms"] == 0


def test_router_logs_are_readable_and_mask_numbers(stack: NumproxyStack) -> None:
    logs = stack.logs("router")
    assert logs.strip(), "the router logged its start-up"
    assert ALICE not in logs and BOB not in logs


def test_sqlite_stack_delivers_an_sms(numproxy_image: str) -> None:
    with NumproxyStack(numproxy_image, database="sqlite") as stack:

        async def open_session() -> dict[str, str]:
            async with stack.client() as client:
                await client.create_pool("lite")
                await client.add_numbers("lite", PROXIES[:2])
                session = await client.create_session(ALICE, BOB, pool="lite")
            return {p.number: p.proxy_number for p in session.participants}

        proxy = asyncio.run(open_session())
        # Signed out of the box: the simulator signs with the stack's random secret...
        stack.simulator.inbound(ALICE, proxy[ALICE], "over sqlite")
        sms = stack.simulator.wait_for_sms(to=BOB)
        assert sms["text"] == "over sqlite"
        # ...and the gateway refuses a webhook without it.
        forged = {"msisdn": ALICE[1:], "to": proxy[ALICE][1:], "messageId": "0F", "text": "x"}
        unsigned = httpx.get(f"{stack.gateway_url}/webhooks/inbound-sms", params=forged)
        assert unsigned.status_code == 401
        assert unsigned.json()["error"]["code"] == "SIGNATURE_REQUIRED"
        assert stack.signature_secret and stack.signature_method == "sha256"
        with pytest.raises(RuntimeError, match="SQLite"):
            _ = stack.database_url


def test_a_broken_configuration_fails_fast_with_logs(numproxy_image: str) -> None:
    stack = NumproxyStack(
        numproxy_image,
        database="sqlite",
        env={"router": {"DATABASE_URL": "nosuchdriver://x"}},
        startup_timeout=30,
    )
    with pytest.raises(StackStartError) as failed:
        stack.start()
    assert "migrations failed" in str(failed.value)
