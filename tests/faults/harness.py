"""What every fault scenario shares: settings that make recovery quick, sessions and a stream
of unique messages, waiting for the system to settle, and the exactly-once verdict."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from numproxy.client import NumproxyClient
from numproxy.simulator.webhooks import Signer
from tests.support.postgres import PostgresServer
from tests.support.vonage_driver import ACKNOWLEDGED, DriverReport, InboundSms, VonageDriver

# Every service reads only its own prefix from this; the stack's wiring is added on top.
FAULT_ENV: dict[str, str] = {
    "NUMPROXY_ROUTER_DISPATCH_INTERVAL": "0.2",
    "NUMPROXY_ROUTER_DISPATCH_LEASE": "5",
    "NUMPROXY_ROUTER_SEND_TIMEOUT": "3",
    "NUMPROXY_ROUTER_RETRY_INITIAL_BACKOFF": "0.2",
    "NUMPROXY_ROUTER_RETRY_MAX_BACKOFF": "2",
    "NUMPROXY_ROUTER_MAX_SEND_ATTEMPTS": "200",
    # 30 messages per session in well under a minute: at the session rate cap, which is not
    # what these scenarios test.
    "NUMPROXY_ROUTER_SESSION_RATE_MAX_MESSAGES": "0",
    "NUMPROXY_ROUTER_SHUTDOWN_GRACE": "5",
    "NUMPROXY_SENDER_SHUTDOWN_GRACE": "5",
    "NUMPROXY_SENDER_RATE_LIMIT": "0",  # the simulator throttles (or not) per scenario
    "NUMPROXY_SIMULATOR_RATE_LIMIT": "0",
    "NUMPROXY_GATEWAY_SHUTDOWN_GRACE": "5",
    # Warnings and errors only: 1,000 messages at INFO would bury what matters.
    "NUMPROXY_ROUTER_LOG_LEVEL": "WARNING",
    "NUMPROXY_SENDER_LOG_LEVEL": "WARNING",
    "NUMPROXY_GATEWAY_LOG_LEVEL": "WARNING",
    "NUMPROXY_SIMULATOR_LOG_LEVEL": "WARNING",
}

MESSAGES = 1200
SESSIONS = 40
STREAM_RATE = 60.0  # messages/s the driver starts: the stream lasts about 20 s
SETTLE_TIMEOUT = 90.0

SUMMARIES: list[str] = []  # printed again at the end of the run (conftest)


@dataclass(frozen=True, slots=True)
class Leg:
    """One direction of a session: who texts which proxy number, who receives from which."""

    sender: str
    proxy: str
    recipient: str
    recipient_proxy: str


async def open_sessions(client: NumproxyClient, count: int = SESSIONS) -> list[Leg]:
    legs: list[Leg] = []
    for n in range(count):
        session = await client.create_session(f"+1555{n:07d}", f"+1556{n:07d}")
        a, b = session.participants
        legs.append(Leg(a.number, a.proxy_number, b.number, b.proxy_number))
        legs.append(Leg(b.number, b.proxy_number, a.number, a.proxy_number))
    return legs


def stream(scenario: str, legs: Sequence[Leg], count: int = MESSAGES) -> dict[str, Expected]:
    """``count`` unique messages, round robin over the legs; keyed by their messageId."""
    run = uuid.uuid4().hex[:6]
    messages: dict[str, Expected] = {}
    for n in range(count):
        leg = legs[n % len(legs)]
        message_id = f"{run}{n:010X}"
        sms = InboundSms(
            message_id=message_id,
            msisdn=digits(leg.sender),
            to=digits(leg.proxy),
            text=f"{scenario} {run} #{n:05d}",
        )
        messages[message_id] = Expected(sms, digits(leg.recipient), digits(leg.recipient_proxy))
    return messages


@dataclass(frozen=True, slots=True)
class Expected:
    sms: InboundSms
    to: str  # the other participant, digits
    sender: str  # the proxy number the other participant knows, digits


def driver(
    gateway_urls: Sequence[str], signer: Signer | None, rate: float = STREAM_RATE
) -> VonageDriver:
    return VonageDriver(gateway_urls, signer=signer, concurrency=32, rate=rate, redeliver_rate=0.05)


async def drive(
    driver: VonageDriver,
    messages: dict[str, Expected],
    fault: Callable[[], Awaitable[None]],
) -> DriverReport:
    """Run the stream and the fault side by side; the fault's failure fails the scenario."""
    report, _ = await asyncio.gather(
        driver.run([m.sms for m in messages.values()]),
        fault(),
    )
    return report


class Database:
    """Counts from the router's database, read with psql."""

    def __init__(self, server: PostgresServer, url: str) -> None:
        self._server = server
        self._name = make_url(url).database or "postgres"

    async def outbound_statuses(self) -> Counter[str]:
        out = await asyncio.to_thread(
            self._server.psql,
            "SELECT status, count(*) FROM interaction WHERE direction = 'OUTBOUND' GROUP BY status",
            self._name,
        )
        counts: Counter[str] = Counter()
        for line in out.splitlines():
            status, _, number = line.partition("|")
            counts[status] = int(number)
        return counts


async def outbox(sim: httpx.AsyncClient) -> list[dict[str, Any]]:
    reply = await sim.get("/_sim/outbox")
    reply.raise_for_status()
    sent: list[dict[str, Any]] = reply.json()
    return sent


async def settle(
    sim: httpx.AsyncClient, database: Database, texts: set[str], timeout: float = SETTLE_TIMEOUT
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Poll until every text in ``texts`` reached the outbox and no outbound row is still
    QUEUED (nothing left that could be sent again); the outbox and statuses then."""
    deadline = time.monotonic() + timeout
    while True:
        sent = await outbox(sim)
        statuses = await database.outbound_statuses()
        arrived = {sms["text"] for sms in sent}
        if texts <= arrived and statuses["QUEUED"] == 0:
            return sent, statuses
        if time.monotonic() > deadline:
            return sent, statuses  # the verdict names what is missing
        await asyncio.sleep(0.5)


@dataclass
class Verdict:
    scenario: str
    report: DriverReport
    delivered: int
    duplicated: int
    lost: int
    unexpected: int
    misrouted: int
    statuses: Counter[str]
    seconds: float

    def summary(self) -> str:
        r = self.report
        return (
            f"{self.scenario}: sent={len(r.sent)} acknowledged={len(r.acknowledged)} "
            f"delivered={self.delivered} duplicated={self.duplicated} lost={self.lost} "
            f"unexpected={self.unexpected} misrouted={self.misrouted} "
            f"receipts_delivered={self.statuses['DELIVERED']} failed={self.statuses['FAILED']} "
            f"webhook_attempts={r.attempts} non_2xx={r.not_acknowledged_answers}"
            f"{_by_status(r)} "
            f"timeouts={r.timeouts} connection_errors={r.connection_errors} "
            f"redelivered={r.redelivered} seconds={self.seconds:.1f}"
        )

    def assert_exactly_once(self) -> None:
        r = self.report
        assert not r.given_up, f"{len(r.given_up)} messages never acknowledged"
        assert self.lost == 0, f"{self.lost} acknowledged messages never reached the phone"
        assert self.duplicated == 0, f"{self.duplicated} extra copies reached a phone"
        assert self.unexpected == 0, f"{self.unexpected} SMS sent that nobody texted"
        assert self.misrouted == 0, (
            f"{self.misrouted} SMS to the wrong phone or from a wrong number"
        )
        assert self.delivered == len(r.acknowledged) == len(r.sent)


def _by_status(report: DriverReport) -> str:
    refused = sorted((s, n) for s, n in report.answers.items() if s not in ACKNOWLEDGED)
    return "(" + ",".join(f"{s}:{n}" for s, n in refused) + ")" if refused else ""


def judge(
    scenario: str,
    messages: dict[str, Expected],
    report: DriverReport,
    sent: list[dict[str, Any]],
    statuses: Counter[str],
    started: float,
) -> Verdict:
    """Match the outbox 1:1 against what was texted; print and keep the summary line."""
    by_text = {m.sms.text: m for m in messages.values()}
    copies = Counter(sms["text"] for sms in sent)
    misrouted = 0
    for sms in sent:
        expected = by_text.get(sms["text"])
        if expected is not None and (
            digits(sms["to"]) != expected.to or digits(sms["from"]) != expected.sender
        ):
            misrouted += 1
    acknowledged = [messages[i].sms.text for i in report.acknowledged]
    verdict = Verdict(
        scenario=scenario,
        report=report,
        delivered=sum(1 for text in acknowledged if copies[text] >= 1),
        duplicated=sum(n - 1 for text, n in copies.items() if n > 1 and text in by_text),
        lost=sum(1 for text in acknowledged if copies[text] == 0),
        unexpected=sum(n for text, n in copies.items() if text not in by_text),
        misrouted=misrouted,
        statuses=statuses,
        seconds=time.monotonic() - started,
    )
    line = verdict.summary()
    SUMMARIES.append(line)
    print(f"\n[faults] {line}", flush=True)
    return verdict


def digits(number: str) -> str:
    return number.lstrip("+")
