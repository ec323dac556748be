"""List pagination: page sizes and opaque keyset page tokens.

A token is the base64 of the last returned row's sort key plus a digest of the list's filter,
so a token cannot be replayed against a different query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from numproxy.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

T = TypeVar("T")
Key = list[str | int]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str = ""


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument(
            f"page_size must not be negative, got {requested}",
            reason="INVALID_PAGE_SIZE",
            metadata={"field": "page_size"},
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _scope_digest(scope: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps(list(scope), default=str).encode()).hexdigest()[:16]


def encode_token(key: Key, scope: Sequence[object]) -> str:
    payload = json.dumps({"k": key, "s": _scope_digest(scope)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, scope: Sequence[object]) -> Key | None:
    """The key after which the next page starts; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        key = payload["k"]
        valid = isinstance(key, list) and payload["s"] == _scope_digest(scope)
    except (binascii.Error, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise InvalidArgument(
            "page_token is invalid or belongs to a different query",
            reason="INVALID_PAGE_TOKEN",
            metadata={"field": "page_token"},
        )
    return [v for v in key if isinstance(v, str | int)]


def paginate(
    rows: Sequence[T], size: int, key_of: Callable[[T], Key], scope: Sequence[object]
) -> Page[T]:
    """A page of ``rows`` fetched with limit ``size + 1`` (the extra row says more exist)."""
    if len(rows) <= size:
        return Page(list(rows))
    items = list(rows[:size])
    return Page(items, encode_token(key_of(items[-1]), scope))
