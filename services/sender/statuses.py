"""Vonage SMS API status codes: which are retried, and which gRPC error a final one becomes.

Every error carries ErrorInfo reason ``PROVIDER_STATUS_<n>`` with metadata ``status`` and
``error_text`` (phone numbers masked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from numproxy.common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ProviderUnavailable,
)
from numproxy.common.numbers import mask_numbers_in

OK = 0
THROTTLED = 1
# Retried with backoff inside the call's deadline: throttled, too many binds, and the
# provider's internal error / communication failure, which are transient in practice.
TRANSIENT = frozenset({THROTTLED, 5, 10, 13})
INVALID_ARGUMENT = frozenset({2, 3, 6, 12, 15, 16, 20, 22, 23, 34})
PERMISSION_DENIED = frozenset({4, 8, 11, 14, 32})

_WAIT = re.compile(r"please wait \[\s*(\d+)\s*\]", re.IGNORECASE)


def is_transient(status: int) -> bool:
    return status in TRANSIENT


def wait_hint(error_text: str) -> float | None:
    """Seconds from a throttling answer's ``please wait [ N ]`` (N in milliseconds)."""
    match = _WAIT.search(error_text)
    return int(match.group(1)) / 1000 if match else None


def reason(status: int) -> str:
    return f"PROVIDER_STATUS_{status}"


def _metadata(status: int, error_text: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"status": str(status), "error_text": mask_numbers_in(error_text), **(extra or {})}


def permanent_error(
    status: int, error_text: str, *, extra: Mapping[str, str] | None = None, prefix: str = ""
) -> DomainError:
    """The error a final (non-retried) provider status maps to."""
    cls: type[DomainError]
    if status in INVALID_ARGUMENT:
        cls = InvalidArgument
    elif status in PERMISSION_DENIED:
        cls = PermissionDenied
    else:
        cls = FailedPrecondition
    message = f"{prefix}provider rejected the message: status {status} ({error_text})"
    metadata = _metadata(status, error_text, extra)
    return cls(mask_numbers_in(message), reason=reason(status), metadata=metadata)


def exhausted_error(status: int, error_text: str) -> ProviderUnavailable:
    """A transient status still answered when the call's time budget ran out."""
    message = f"provider still answers status {status} ({error_text}); retry later"
    metadata = _metadata(status, error_text, None)
    return ProviderUnavailable(mask_numbers_in(message), reason=reason(status), metadata=metadata)
