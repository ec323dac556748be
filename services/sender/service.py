"""Sending one SMS: encoding, rate limit, retries of transient answers within the call's
time budget, error mapping and idempotent replay."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry.trace import SpanKind

from numproxy.common import sms_encoding as encoding
from numproxy.common import tracing
from numproxy.common.backoff import jittered_backoff
from numproxy.common.errors import DeadlineExceeded, DomainError, ProviderUnavailable
from numproxy.common.numbers import mask
from numproxy.common.sms_encoding import Encoding
from numproxy.sender import statuses
from numproxy.sender.idempotency import IdempotencyCache
from numproxy.sender.metrics import SenderMetrics
from numproxy.sender.ratelimit import RateLimiter
from numproxy.sender.replies import (
    MalformedReply,
    ProviderReply,
    lowest_balance,
    total_price,
)
from numproxy.sender.vonage import (
    OutboundSms,
    ProviderHttpError,
    ProviderTimeout,
    ProviderUnreachable,
    VonageClient,
)

log = logging.getLogger(__name__)

# Time kept back from the caller's deadline so our own error reaches it before the deadline.
_DEADLINE_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class SmsRequest:
    from_number: str  # E.164 with "+"
    to_number: str
    text: str
    idempotency_key: str = ""

    def fingerprint(self) -> str:
        raw = "\x00".join((self.from_number, self.to_number, self.text))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SendResult:
    message_ids: tuple[str, ...]
    message_count: int
    encoding: Encoding
    message_price: str
    remaining_balance: str


@dataclass(frozen=True, slots=True)
class _Retry:
    """A transient failure: wait ``delay`` and try again, or raise ``error`` if out of time."""

    delay: float
    error: DomainError


_CALL_FAILURES = {
    "PROVIDER_TIMEOUT": ("timeout", "-"),
    "PROVIDER_UNREACHABLE": ("unreachable", "-"),
    "PROVIDER_MALFORMED_REPLY": ("200", "malformed"),
}


def call_labels(error: DomainError) -> tuple[str, str]:
    """(HTTP status, provider status) of the provider call that ended in ``error``."""
    if error.reason in _CALL_FAILURES:
        return _CALL_FAILURES[error.reason]
    if "http_status" in error.metadata:
        return error.metadata["http_status"], "-"
    return "200", error.metadata.get("status", "-")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    max_send_time: float = 30.0  # budget when the caller set no deadline
    http_timeout: float = 10.0
    # A retry is only started when at least this much time is left for its answer.
    min_attempt_time: float = 0.1

    def backoff(self, attempt: int) -> float:
        return jittered_backoff(attempt, self.initial_backoff, self.max_backoff)


class SmsSender:
    def __init__(
        self,
        client: VonageClient,
        limiter: RateLimiter,
        cache: IdempotencyCache[SendResult],
        policy: RetryPolicy,
        *,
        ttl_ms: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: SenderMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._client = client
        self._limiter = limiter
        self._cache = cache
        self._policy = policy
        self._ttl_ms = ttl_ms
        self._clock = clock
        self._sleep = sleep

    async def send(self, request: SmsRequest, *, time_left: float | None = None) -> SendResult:
        """Send ``request`` within ``time_left`` seconds (the caller's remaining deadline)."""
        budget = self._policy.max_send_time if time_left is None else time_left
        deadline = self._clock() + budget - _DEADLINE_MARGIN
        metrics = self._metrics
        if metrics is None:
            return await self._cache.run(
                request.idempotency_key,
                request.fingerprint(),
                lambda: self._send(request, deadline),
            )
        called = False

        def call() -> Awaitable[SendResult]:
            nonlocal called
            called = True
            return self._send(request, deadline)

        try:
            result = await self._cache.run(request.idempotency_key, request.fingerprint(), call)
        except Exception:
            metrics.sends.labels("failed").inc()
            raise
        if not called:  # answered by the call made for this key before (or under way)
            metrics.replays.inc()
        metrics.sends.labels("sent").inc()
        return result

    async def _send(self, request: SmsRequest, deadline: float) -> SendResult:
        chosen = encoding.choose_encoding(request.text)
        sms = OutboundSms(
            from_number=request.from_number,
            to_number=request.to_number,
            text=request.text,
            encoding=chosen,
            client_ref=request.idempotency_key,
            ttl_ms=self._ttl_ms,
        )
        attempt = 0
        while True:
            if self._metrics is None:
                await self._limiter.acquire(deadline)
            else:
                waited = time.perf_counter()
                await self._limiter.acquire(deadline)
                self._metrics.rate_limit_wait.observe(time.perf_counter() - waited)
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise DeadlineExceeded("deadline reached before the provider could be called")
            outcome = await self._attempt(
                sms, min(self._policy.http_timeout, remaining), self._policy.backoff(attempt)
            )
            if isinstance(outcome, SendResult):
                return outcome
            if self._clock() + outcome.delay + self._policy.min_attempt_time >= deadline:
                raise outcome.error
            log.info(
                "provider busy for sms to %s (%s); retrying in %.2fs",
                mask(sms.to_number),
                outcome.error.reason,
                outcome.delay,
            )
            attempt += 1
            await self._sleep(outcome.delay)

    async def _attempt(
        self, sms: OutboundSms, http_timeout: float, backoff: float
    ) -> SendResult | _Retry:
        """One provider call: its result, or a retry. Raises what must not be retried."""
        if tracing.enabled():
            with tracing.span("numproxy.sender/provider-call", kind=SpanKind.CLIENT):
                return await self._measured(sms, http_timeout, backoff)
        return await self._measured(sms, http_timeout, backoff)

    async def _measured(
        self, sms: OutboundSms, http_timeout: float, backoff: float
    ) -> SendResult | _Retry:
        if self._metrics is None:
            return await self._call(sms, http_timeout, backoff)
        started = time.perf_counter()
        try:
            outcome = await self._call(sms, http_timeout, backoff)
        except DomainError as exc:
            self._observe(started, call_labels(exc))
            raise
        self._observe(
            started, ("200", "0") if isinstance(outcome, SendResult) else call_labels(outcome.error)
        )
        return outcome

    def _observe(self, started: float, labels: tuple[str, str]) -> None:
        metrics = self._metrics
        assert metrics is not None
        metrics.provider_seconds.observe(time.perf_counter() - started)
        metrics.provider_calls.labels(*labels).inc()
        http_status, provider_status = labels
        if http_status == "429":
            metrics.throttles.labels("http_429").inc()
        elif provider_status == str(statuses.THROTTLED):
            metrics.throttles.labels("status_1").inc()

    async def _call(
        self, sms: OutboundSms, http_timeout: float, backoff: float
    ) -> SendResult | _Retry:
        try:
            reply = await self._client.send(sms, http_timeout=http_timeout)
        except ProviderTimeout as exc:
            raise DeadlineExceeded(
                f"provider did not answer within {http_timeout:.2f}s", reason="PROVIDER_TIMEOUT"
            ) from exc
        except ProviderUnreachable as exc:
            raise ProviderUnavailable(
                f"provider unreachable ({exc})", reason="PROVIDER_UNREACHABLE"
            ) from exc
        except ProviderHttpError as exc:
            error = ProviderUnavailable(
                f"provider answered HTTP {exc.status_code}",
                reason=f"PROVIDER_HTTP_{exc.status_code}",
                metadata={"http_status": str(exc.status_code)},
            )
            if exc.status_code != 429:
                raise error from exc
            # 429 is handled like status 1 (throttled).
            delay = exc.retry_after if exc.retry_after is not None else backoff
            self._limiter.pause(delay)
            return _Retry(delay, error)
        except MalformedReply as exc:
            raise ProviderUnavailable(str(exc), reason="PROVIDER_MALFORMED_REPLY") from exc
        return self._evaluate(sms, reply, backoff)

    def _evaluate(
        self, sms: OutboundSms, reply: ProviderReply, backoff: float
    ) -> SendResult | _Retry:
        accepted, rejected = reply.accepted, reply.rejected
        if not rejected:
            return SendResult(
                message_ids=tuple(p.message_id for p in accepted),
                message_count=reply.message_count,
                encoding=sms.encoding,
                message_price=total_price(accepted),
                remaining_balance=lowest_balance(accepted),
            )
        first = rejected[0]
        if accepted:
            # Some parts went out: retrying would send them twice, so this is final.
            log.warning(
                "partial failure sending to %s: %d of %d parts accepted, status %d",
                mask(sms.to_number),
                len(accepted),
                len(reply.parts),
                first.status,
            )
            raise statuses.permanent_error(
                first.status,
                first.error_text,
                prefix=f"partial failure ({len(accepted)} of {len(reply.parts)} parts sent): ",
                extra={
                    "partial": "true",
                    "parts_accepted": str(len(accepted)),
                    "parts_total": str(len(reply.parts)),
                    "message_ids": ",".join(p.message_id for p in accepted),
                },
            )
        if not statuses.is_transient(first.status):
            log.info("provider rejected sms to %s: status %d", mask(sms.to_number), first.status)
            raise statuses.permanent_error(first.status, first.error_text)
        delay = backoff
        if first.status == statuses.THROTTLED:
            hint = statuses.wait_hint(first.error_text)
            delay = hint if hint is not None else backoff
            self._limiter.pause(delay)
        return _Retry(delay, statuses.exhausted_error(first.status, first.error_text))
