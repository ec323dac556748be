"""Webhook delivery like Vonage's: one request per webhook, retried on non-2xx answers and
connection errors (``retry_initial`` doubling to ``retry_max``, for ``retry_total`` seconds),
every attempt recorded for ``/_sim/deliveries``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import jwt

from numproxy.common.vonage_signing import SignatureMethod, sign

log = logging.getLogger(__name__)

Format = Literal["get", "form", "json", "messages"]
UNREACHABLE = 0  # the status recorded when no HTTP answer came
_USER_AGENT = "Nexmo/MessagingHUB/v1.0"


@dataclass(frozen=True, slots=True)
class Webhook:
    kind: str  # "inbound" or "dlr"
    message_id: str
    url: str
    method: str
    params: Mapping[str, str] | None = None  # query string (GET)
    content: bytes | None = None  # body (POST)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signer:
    secret: str
    method: SignatureMethod
    api_key: str
    application_id: str

    def sign_params(self, params: dict[str, str], now: float) -> dict[str, str]:
        signed = {**params, "timestamp": str(int(now)), "nonce": secrets.token_hex(8)}
        signed["sig"] = sign(signed, self.secret, self.method)
        return signed

    def bearer(self, body: bytes, now: float) -> str:
        claims = {
            "iat": int(now),
            "jti": str(uuid.uuid4()),
            "iss": "Vonage",
            "payload_hash": hashlib.sha256(body).hexdigest(),
            "api_key": self.api_key,
            "application_id": self.application_id,
        }
        return "Bearer " + jwt.encode(claims, self.secret, algorithm="HS256")


def build(
    kind: str,
    message_id: str,
    url: str,
    fmt: Format,
    payload: dict[str, Any],
    signer: Signer | None,
    now: float | None = None,
) -> Webhook:
    """A webhook carrying ``payload`` in Vonage's ``fmt``, signed when ``signer`` is set.

    SMS-API formats (get/form/json) carry string values and ``sig``; the Messages-API format
    is a JSON document authenticated by a JWT over its SHA-256.
    """
    now = time.time() if now is None else now
    headers = {"user-agent": _USER_AGENT}
    if fmt == "messages":
        body = json.dumps(payload).encode()
        headers["content-type"] = "application/json"
        if signer is not None:
            headers["authorization"] = signer.bearer(body, now)
        return Webhook(kind, message_id, url, "POST", content=body, headers=headers)
    params = {k: str(v) for k, v in payload.items()}
    if signer is not None:
        params = signer.sign_params(params, now)
    if fmt == "get":
        return Webhook(kind, message_id, url, "GET", params=params, headers=headers)
    if fmt == "json":
        headers["content-type"] = "application/json"
        content = json.dumps(params).encode()
        return Webhook(kind, message_id, url, "POST", content=content, headers=headers)
    headers["content-type"] = "application/x-www-form-urlencoded; charset=UTF-8"
    content = urlencode(params).encode()
    return Webhook(kind, message_id, url, "POST", content=content, headers=headers)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    initial: float = 0.5
    maximum: float = 5.0
    total: float = 60.0

    def delays(self) -> list[float]:
        delays, delay, spent = [], self.initial, 0.0
        while spent + delay <= self.total:
            delays.append(delay)
            spent += delay
            delay = min(delay * 2, self.maximum)
        return delays


class Deliverer:
    def __init__(
        self,
        http: httpx.AsyncClient,
        schedule: RetrySchedule,
        *,
        timeout: float,
        concurrency: int,
        log_limit: int,
    ) -> None:
        self._http = http
        self._schedule = schedule
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempts: deque[dict[str, Any]] = deque(maxlen=log_limit)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def first_attempt(self, hook: Webhook) -> int:
        """Deliver once and answer its HTTP status (0 when unreachable); on failure the
        retries go on in the background."""
        status = await self._attempt(hook, 1)
        if not _ok(status):
            self._spawn(self._retries(hook))
        return status

    def deliver(self, hook: Webhook) -> None:
        """Deliver in the background, retrying until it succeeds or the schedule ends."""
        self._spawn(self._deliver(hook))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Webhook) -> None:
        if not _ok(await self._attempt(hook, 1)):
            await self._retries(hook)

    async def _retries(self, hook: Webhook) -> None:
        """Attempts 2, 3, ... after the schedule's delays, until one is answered 2xx."""
        for attempt, delay in enumerate(self._schedule.delays(), start=2):
            await asyncio.sleep(delay)
            if _ok(await self._attempt(hook, attempt)):
                return
        log.warning("gave up delivering %s webhook %s", hook.kind, hook.message_id)

    async def _attempt(self, hook: Webhook, attempt: int) -> int:
        error = ""
        async with self._slots:
            try:
                # urlencode writes spaces as "+", as Vonage does in GET webhooks.
                url = f"{hook.url}?{urlencode(hook.params)}" if hook.params else hook.url
                response = await self._http.request(
                    hook.method,
                    url,
                    content=hook.content,
                    headers=hook.headers,
                    timeout=self._timeout,
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                status, error = UNREACHABLE, type(exc).__name__
        record = {
            "kind": hook.kind,
            "messageId": hook.message_id,
            "url": hook.url,
            "attempt": attempt,
            "status": status,
            "time": time.time(),
        }
        if error:
            record["error"] = error
        self.attempts.append(record)
        return status

    async def aclose(self) -> None:
        """Stop pending retries (the process is going away)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _ok(status: int) -> bool:
    return 200 <= status <= 205
