"""Parsing the SMS API's answer: always HTTP 200 JSON with one ``messages[]`` entry per part."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


class MalformedReply(Exception):
    """The provider answered 200 with something that is not its JSON shape."""


@dataclass(frozen=True, slots=True)
class PartResult:
    status: int
    message_id: str = ""
    error_text: str = ""
    message_price: str = ""
    remaining_balance: str = ""
    network: str = ""


@dataclass(frozen=True, slots=True)
class ProviderReply:
    message_count: int
    parts: tuple[PartResult, ...]

    @property
    def accepted(self) -> tuple[PartResult, ...]:
        return tuple(p for p in self.parts if p.status == 0)

    @property
    def rejected(self) -> tuple[PartResult, ...]:
        return tuple(p for p in self.parts if p.status != 0)


def _str(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return "" if value is None else str(value)


def parse_reply(body: bytes) -> ProviderReply:
    try:
        data = json.loads(body)
        entries = data["messages"]
        if not isinstance(entries, list) or not entries:
            raise MalformedReply("no messages in the provider's answer")
        parts = tuple(
            PartResult(
                status=int(_str(e, "status")),
                message_id=_str(e, "message-id"),
                error_text=_str(e, "error-text"),
                message_price=_str(e, "message-price"),
                remaining_balance=_str(e, "remaining-balance"),
                network=_str(e, "network"),
            )
            for e in entries
        )
        count = int(data.get("message-count", len(parts)))
    except MalformedReply:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedReply(f"unexpected provider answer: {exc}") from exc
    return ProviderReply(message_count=count, parts=parts)


def total_price(parts: tuple[PartResult, ...]) -> str:
    """Sum of the parts' prices as a decimal string with the provider's 8 places."""
    total = Decimal(0)
    for part in parts:
        try:
            total += Decimal(part.message_price or "0")
        except InvalidOperation:
            continue
    return f"{total:.8f}"


def lowest_balance(parts: tuple[PartResult, ...]) -> str:
    """The balance after the last part (the lowest one reported)."""
    best: tuple[Decimal, str] | None = None
    for part in parts:
        try:
            value = Decimal(part.remaining_balance)
        except InvalidOperation:
            continue
        if best is None or value < best[0]:
            best = (value, part.remaining_balance)
    return best[1] if best else ""
