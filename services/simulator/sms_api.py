"""``/sms/json`` as Vonage answers it: authentication, throttling, validation, part counting,
acceptance. Pure logic over the simulator state; the HTTP layer lives in app.py."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from numproxy.common.sms_encoding import MAX_TEXT_CHARS, Encoding, count_parts
from numproxy.common.vonage_signing import verify
from numproxy.simulator.settings import SimulatorSettings
from numproxy.simulator.state import (
    MessageIds,
    SimConfig,
    Stats,
    TokenBuckets,
    from_units,
    to_units,
)

ERROR_TEXTS: dict[int, str] = {
    1: "Throughput Rate Exceeded - please wait [ {wait} ] and retry",
    2: "Missing {param} param",
    3: "Invalid {param} param",
    4: "Bad Credentials",
    5: "Internal Error",
    6: "Invalid Message",
    7: "Number barred",
    8: "Partner account barred",
    9: "Quota Exceeded - rejected",
    10: "Too many existing binds",
    11: "Account not enabled for HTTP",
    12: "Message too long",
    13: "Communication Failed",
    14: "Invalid Signature",
    15: "Invalid from address",
    16: "Invalid TTL",
    17: "Message blocked by provider",
    19: "Facility not allowed",
    20: "Invalid Message class",
    22: "Invalid network code",
    23: "Invalid callback url",
    29: "Non White-listed Destination - rejected",
    32: "Signature and api secret disallowed",
    33: "Number de-activated",
    34: "Invalid msisdn",
}

_TO = re.compile(r"^\+?[0-9]{7,15}$")
_NUMERIC_FROM = re.compile(r"^\+?[0-9]{1,15}$")
_ALPHA_FROM = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
_BOOLEANS = frozenset({"0", "1", "true", "false"})


# Fills the placeholders of a scripted (status_queue) answer.
_SCRIPTED = {"param": "to", "wait": "100"}


def error_text(status: int, **fields: str) -> str:
    return ERROR_TEXTS.get(status, "Error").format(**{**_SCRIPTED, **fields})


class Rejected(Exception):
    def __init__(self, status: int, text: str | None = None, **fields: str) -> None:
        super().__init__(status)
        self.status = status
        self.text = text if text is not None else error_text(status, **fields)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An SMS accepted for delivery (what ``/_sim/outbox`` lists)."""

    record: dict[str, Any]
    parts: tuple[dict[str, str], ...]  # the messages[] entries


def error_body(status: int, text: str) -> dict[str, Any]:
    return {"message-count": "1", "messages": [{"status": str(status), "error-text": text}]}


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None


class SmsApi:
    def __init__(
        self,
        settings: SimulatorSettings,
        config: SimConfig,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._api_key = settings.api_key
        self._api_secret = settings.api_secret.get_secret_value()
        self._sig_secret = settings.signature_secret.get_secret_value()
        self._config = config
        self._stats = stats
        self._clock = clock
        self._buckets = TokenBuckets()
        self._ids = MessageIds()
        self._price = to_units(settings.message_price)
        self.balance = to_units(settings.balance)
        self.outbox: deque[dict[str, Any]] = deque(maxlen=settings.outbox_limit)
        # SMS ever accepted: the outbox's last record is number ``accepted`` (phones page).
        self.accepted = 0

    def reset(self) -> None:
        self.outbox.clear()
        self._buckets.clear()
        self.balance = to_units(self._settings.balance)

    def submit(
        self, params: Mapping[str, str], authorization: str | None = None
    ) -> tuple[dict[str, Any], Accepted | None]:
        """Vonage's JSON answer to one request, and what was accepted (None on an error)."""
        try:
            key = self._authenticate(params, authorization)
            wait = self._buckets.take(key, self._config.rate_limit)
            if wait:
                raise Rejected(1, wait=str(wait))
            accepted = self._accept(key, params)
        except Rejected as exc:
            self._stats.statuses[exc.status] += 1
            return error_body(exc.status, exc.text), None
        body = {"message-count": str(len(accepted.parts)), "messages": list(accepted.parts)}
        return body, accepted

    def _authenticate(self, params: Mapping[str, str], authorization: str | None) -> str:
        key, secret = params.get("api_key", ""), params.get("api_secret", "")
        basic = basic_credentials(authorization)
        if basic and not key:
            key, secret = basic
        sig = params.get("sig", "")
        if not key:
            raise Rejected(2, param="api_key")
        if sig and secret:
            raise Rejected(32)
        if sig:
            if not self._valid_signature(params):
                raise Rejected(14)
            if key != self._api_key:
                raise Rejected(4)
            return key
        if not secret:
            raise Rejected(2, param="api_secret")
        if key != self._api_key or secret != self._api_secret:
            raise Rejected(4)
        return key

    def _valid_signature(self, params: Mapping[str, str]) -> bool:
        if not self._sig_secret:
            return False
        try:
            age = abs(self._clock() - int(params.get("timestamp", "")))
        except ValueError:
            return False
        if age > self._settings.signature_window:
            return False
        return verify(params, self._sig_secret, self._settings.signature_method)

    def _accept(self, key: str, params: Mapping[str, str]) -> Accepted:
        text, kind, parts = self._validate(params)
        script = self._config.status_queue
        scripted = script.pop(0) if script else None
        statuses = (
            [scripted] * parts
            if isinstance(scripted, int)
            else list(scripted or ())[:parts] + [0] * (parts - len(scripted or ()))
        )
        if self.balance < self._price * statuses.count(0):
            raise Rejected(9)
        if all(s != 0 for s in statuses):
            raise Rejected(statuses[0])
        return self._record(key, params, text, kind, statuses)

    def _validate(self, params: Mapping[str, str]) -> tuple[str, str, int]:
        for name in ("from", "to"):
            if not params.get(name):
                raise Rejected(2, param=name)
        kind = params.get("type") or "text"
        if kind not in ("text", "unicode", "binary"):
            raise Rejected(3, param="type")
        text = params.get("text", "")
        if kind == "binary":
            for name in ("body", "udh"):
                if not params.get(name):
                    raise Rejected(2, param=name)
        elif not text:
            raise Rejected(2, param="text")
        if not _TO.match(params["to"]):
            raise Rejected(3, param="to")
        sender = params["from"]
        if not (_NUMERIC_FROM.match(sender) or _ALPHA_FROM.match(sender)):
            raise Rejected(15)
        self._validate_optional(params)
        if len(text) > MAX_TEXT_CHARS:
            raise Rejected(12)
        if kind == "binary":
            parts = max(1, -(-len(params["body"]) // 280))  # hex body, 140 bytes per SMS
        else:
            parts = count_parts(text, Encoding(kind))
        return text, kind, parts

    @staticmethod
    def _validate_optional(params: Mapping[str, str]) -> None:
        ttl = params.get("ttl")
        if ttl is not None and not (ttl.isdigit() and 20_000 <= int(ttl) <= 604_800_000):
            raise Rejected(3, param="ttl")
        mclass = params.get("message-class")
        if mclass is not None and mclass not in ("0", "1", "2", "3"):
            raise Rejected(20)
        callback = params.get("callback")
        if callback is not None and (
            len(callback) > 100 or not callback.startswith(("http://", "https://"))
        ):
            raise Rejected(23)
        if len(params.get("client-ref", "")) > 100:
            raise Rejected(3, param="client-ref")
        report = params.get("status-report-req")
        if report is not None and report.lower() not in _BOOLEANS:
            raise Rejected(3, param="status-report-req")

    def _record(
        self, key: str, params: Mapping[str, str], text: str, kind: str, statuses: list[int]
    ) -> Accepted:
        to, client_ref = params["to"].lstrip("+"), params.get("client-ref")
        entries: list[dict[str, str]] = []
        ids: list[str] = []
        for status in statuses:
            if status != 0:
                entries.append({"status": str(status), "error-text": error_text(status)})
                continue
            self.balance -= self._price
            message_id = self._ids.next()
            ids.append(message_id)
            entry = {
                "to": to,
                "message-id": message_id,
                "status": "0",
                "remaining-balance": from_units(self.balance),
                "message-price": from_units(self._price),
                "network": self._settings.network,
            }
            if client_ref is not None:
                entry["client-ref"] = client_ref
            entries.append(entry)
        self._stats.statuses[next((s for s in statuses if s), 0)] += 1
        self._stats.messages_accepted += 1
        self._stats.parts_accepted += len(ids)
        record: dict[str, Any] = {
            "from": params["from"],
            "to": to,
            "text": text,
            "type": kind,
            "message_id": ids[0],
            "message_ids": ids,
            "client_ref": client_ref or "",
            "parts": len(statuses),
            "api_key": key,
            "status_report_req": params.get("status-report-req", "1").lower() in ("1", "true"),
            "callback": params.get("callback", ""),
            "time": self._clock(),
        }
        self.outbox.append(record)
        self.accepted += 1
        return Accepted(record, tuple(entries))
