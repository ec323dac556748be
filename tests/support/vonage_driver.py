"""A driver that pushes inbound SMS webhooks to gateways the way Vonage does.

GET webhooks (the SMS API's default format), each message with its own ``messageId``; every
answer other than 2xx (200-205), every timeout and every connection error is retried with a
short jittered backoff until the message is acknowledged or ``give_up_after`` runs out.
A share of the messages is delivered a second time with the same ``messageId`` (Vonage's own
duplicates: a slow 200 is retried too), sometimes while the first delivery is still running.
Several gateway URLs are used round robin, retries moving to the next one (a load balancer).
With a ``signer`` every attempt is signed anew (its own timestamp and nonce).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from numproxy.simulator.webhooks import Signer

ACKNOWLEDGED = range(200, 206)


@dataclass(frozen=True, slots=True)
class InboundSms:
    message_id: str
    msisdn: str  # the phone, E.164 digits without "+"
    to: str  # the proxy number it texted, digits
    text: str


@dataclass
class DriverReport:
    sent: set[str] = field(default_factory=set)  # message ids started
    acknowledged: set[str] = field(default_factory=set)  # message ids answered 2xx at least once
    attempts: int = 0  # webhook requests made, re-deliveries and retries included
    answers: Counter[int] = field(default_factory=Counter)  # HTTP status -> requests
    timeouts: int = 0
    connection_errors: int = 0
    redelivered: int = 0  # messages delivered a second time with the same messageId
    acknowledged_by: Counter[str] = field(default_factory=Counter)  # gateway URL -> 2xx
    seconds: float = 0.0

    @property
    def given_up(self) -> set[str]:
        """Messages never acknowledged within the driver's retry budget."""
        return self.sent - self.acknowledged

    @property
    def not_acknowledged_answers(self) -> int:
        return sum(n for status, n in self.answers.items() if status not in ACKNOWLEDGED)


class VonageDriver:
    def __init__(
        self,
        gateway_urls: Sequence[str],
        *,
        api_key: str = "simkey",
        signer: Signer | None = None,
        concurrency: int = 32,
        rate: float | None = None,
        redeliver_rate: float = 0.05,
        request_timeout: float = 4.0,
        retry_initial: float = 0.05,
        retry_max: float = 1.0,
        give_up_after: float = 120.0,
        seed: int = 5,
    ) -> None:
        self._urls = [url.rstrip("/") + "/webhooks/inbound-sms" for url in gateway_urls]
        self._gateways = list(gateway_urls)
        self._api_key = api_key
        self._signer = signer
        self._concurrency = concurrency
        self._rate = rate
        self._redeliver_rate = redeliver_rate
        self._timeout = request_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._give_up_after = give_up_after
        self._random = random.Random(seed)
        self.report = DriverReport()
        self._progress = asyncio.Condition()

    async def run(self, messages: Sequence[InboundSms]) -> DriverReport:
        """Deliver every message (and the re-deliveries) until acknowledged or given up."""
        started = time.monotonic()
        queue: asyncio.Queue[tuple[int, InboundSms]] = asyncio.Queue()
        for item in enumerate(messages):
            queue.put_nowait(item)
        limits = httpx.Limits(max_connections=self._concurrency * 2, max_keepalive_connections=0)
        redeliveries: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(timeout=self._timeout, limits=limits) as http:

            async def worker() -> None:
                while not queue.empty():
                    index, sms = queue.get_nowait()
                    if self._rate:
                        delay = started + index / self._rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)  # pacing the stream, not synchronizing
                    self.report.sent.add(sms.message_id)
                    if self._random.random() < self._redeliver_rate:
                        self.report.redelivered += 1
                        # Up to 0.3 s later: often while the first delivery is still running.
                        lag = self._random.random() * 0.3
                        redeliveries.append(
                            asyncio.create_task(self._deliver(http, sms, index + 1, lag))
                        )
                    await self._deliver(http, sms, index, 0.0)

            await asyncio.gather(*(worker() for _ in range(self._concurrency)))
            await asyncio.gather(*redeliveries)
        self.report.seconds = time.monotonic() - started
        return self.report

    async def wait_acknowledged(self, count: int, timeout: float = 120.0) -> None:
        """Until at least ``count`` messages were acknowledged (a point mid-stream)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: len(self.report.acknowledged) >= count), timeout
            )

    async def _deliver(
        self, http: httpx.AsyncClient, sms: InboundSms, first: int, lag: float
    ) -> None:
        if lag:
            await asyncio.sleep(lag)  # the re-delivery's own schedule
        params = {
            "msisdn": sms.msisdn,
            "to": sms.to,
            "messageId": sms.message_id,
            "text": sms.text,
            "type": "text",
            "keyword": sms.text.split(" ", 1)[0].upper(),
            "api-key": self._api_key,
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        }
        deadline = time.monotonic() + self._give_up_after
        attempt = 0
        while True:
            slot = (first + attempt) % len(self._urls)
            self.report.attempts += 1
            try:
                signed = self._signer.sign_params(params, time.time()) if self._signer else params
                reply = await http.get(self._urls[slot], params=signed)
            except httpx.TimeoutException:
                self.report.timeouts += 1
            except httpx.TransportError:
                self.report.connection_errors += 1
            else:
                self.report.answers[reply.status_code] += 1
                if reply.status_code in ACKNOWLEDGED:
                    await self._acknowledged(sms.message_id, self._gateways[slot])
                    return
            if time.monotonic() >= deadline:
                return  # given up (see DriverReport.given_up)
            backoff = min(self._retry_max, self._retry_initial * 2**attempt)
            await asyncio.sleep(backoff / 2 + self._random.random() * backoff / 2)
            attempt += 1

    async def _acknowledged(self, message_id: str, gateway: str) -> None:
        async with self._progress:
            self.report.acknowledged.add(message_id)
            self.report.acknowledged_by[gateway] += 1
            self._progress.notify_all()
