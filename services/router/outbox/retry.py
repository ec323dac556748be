"""What a failed send means: retry (when, and until when) or give up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc

from numproxy.common.backoff import jittered_backoff
from numproxy.common.errors import error_info
from numproxy.common.numbers import mask_numbers_in
from numproxy.router.clock import as_utc
from numproxy.router.settings import RouterSettings

PERMANENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
_MAX_REASON = 500
_PROVIDER_STATUS = "PROVIDER_STATUS_"


@dataclass(frozen=True, slots=True)
class Sent:
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    retryable: bool


SendResult = Sent | Failed


class RetryPolicy:
    def __init__(self, settings: RouterSettings) -> None:
        self._settings = settings

    def classify(self, exc: grpc.aio.AioRpcError) -> Failed:
        """A failed SendSms call."""
        info = error_info(exc)
        return self.classify_status(
            exc.code(),
            info.reason if info is not None else "",
            exc.details() or "",
            dict(info.metadata) if info is not None else {},
        )

    def classify_status(
        self, code: grpc.StatusCode, reason: str, details: str, metadata: Mapping[str, str]
    ) -> Failed:
        """A failed send, from its status code and ErrorInfo (a call's, or one message's of a
        batch)."""
        reason = reason or code.name
        details = mask_numbers_in(details)
        text = f"{reason}: {details}"[:_MAX_REASON] if details else reason
        if metadata.get("partial") == "true":
            # Some parts were accepted: sending again would deliver them twice, whatever the
            # status of the rejected parts (a throttled part included).
            return Failed(text, retryable=False)
        return Failed(text, retryable=self._retryable(code, reason))

    def _retryable(self, code: grpc.StatusCode, reason: str) -> bool:
        status = reason.removeprefix(_PROVIDER_STATUS)
        provider_retryable = (
            reason.startswith(_PROVIDER_STATUS)
            and status.isdigit()
            and int(status) in self._settings.retryable_provider_statuses
        )
        return provider_retryable or code not in PERMANENT_CODES

    def exhausted(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        age = now - as_utc(created_at)
        return (
            attempts >= self._settings.max_send_attempts
            or age.total_seconds() >= self._settings.max_send_age
        )

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """When to try again after ``attempts`` attempts."""
        delay = jittered_backoff(
            attempts - 1, self._settings.retry_initial_backoff, self._settings.retry_max_backoff
        )
        return now + timedelta(seconds=delay)
