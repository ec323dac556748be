"""The simulator: the SMS API, webhook delivery, and what the control API shows."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from numproxy.common.errors import DomainError
from numproxy.common.numbers import digits, normalize
from numproxy.common.sms_encoding import MAX_CONCAT_PARTS
from numproxy.simulator import payloads
from numproxy.simulator.settings import SimulatorSettings
from numproxy.simulator.sms_api import Accepted, SmsApi
from numproxy.simulator.state import MessageIds, SimConfig, Stats
from numproxy.simulator.webhooks import Deliverer, Format, RetrySchedule, Signer, build

INBOUND_FORMATS: tuple[Format, ...] = ("get", "form", "json", "messages")


class BadRequest(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class InboundRequest:
    from_number: str
    to_number: str
    text: str
    format: Format = "get"
    split: bool | int = False
    shuffle: bool = False
    duplicate: bool = False

    @classmethod
    def parse(cls, data: Any) -> InboundRequest:
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        try:
            from_number = normalize(str(data.get("from", "")), field="from")
            to_number = normalize(str(data.get("to", "")), field="to")
        except DomainError as exc:
            raise BadRequest(exc.message) from exc
        text = data.get("text")
        if not isinstance(text, str):
            raise BadRequest("text must be a string")
        fmt = data.get("format", "get")
        if fmt not in INBOUND_FORMATS:
            raise BadRequest(f"format must be one of {', '.join(INBOUND_FORMATS)}")
        split = data.get("split", False)
        if not isinstance(split, bool | int) or (not isinstance(split, bool) and split < 0):
            raise BadRequest("split must be true/false or a number of parts")
        # As on the air: a concatenated SMS has at most MAX_CONCAT_PARTS parts.
        if len(payloads.split_parts(text, split)) > MAX_CONCAT_PARTS:
            raise BadRequest(f"text would take more than {MAX_CONCAT_PARTS} parts")
        return cls(
            from_number,
            to_number,
            text,
            fmt,
            split,
            bool(data.get("shuffle", False)),
            bool(data.get("duplicate", False)),
        )


class Simulator:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.config = SimConfig.from_settings(settings)
        self.stats = Stats()
        self.api = SmsApi(settings, self.config, self.stats)
        self._ids = MessageIds()
        self._gateway = settings.gateway_url.rstrip("/")
        secret = settings.signature_secret.get_secret_value()
        self._signer = (
            Signer(secret, settings.signature_method, settings.api_key, settings.application_id)
            if secret
            else None
        )
        self._deliverer: Deliverer | None = None

    # lifecycle -------------------------------------------------------------------------

    def start(self, http: httpx.AsyncClient) -> None:
        s = self.settings
        self._deliverer = Deliverer(
            http,
            RetrySchedule(s.retry_initial, s.retry_max, s.retry_total),
            timeout=s.webhook_timeout,
            concurrency=s.webhook_concurrency,
            log_limit=s.deliveries_limit,
        )

    async def stop(self) -> None:
        if self._deliverer is not None:
            await self._deliverer.aclose()

    @property
    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            raise RuntimeError("simulator not started")
        return self._deliverer

    def reset(self) -> None:
        self.config.__dict__.update(SimConfig.from_settings(self.settings).__dict__)
        self.stats.__dict__.update(Stats().__dict__)
        self.api.reset()
        self.deliverer.attempts.clear()

    # the SMS API -------------------------------------------------------------------------

    def fail_request(self) -> bool:
        """Count a request; True when it is to be answered HTTP 500 (error_rate)."""
        self.stats.requests += 1
        rate = self.config.error_rate
        if rate and random.random() < rate:
            self.stats.http_500 += 1
            return True
        return False

    def send_sms(self, params: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        body, accepted = self.api.submit(params, authorization)
        if accepted is not None and self.config.dlr_enabled:
            self._send_receipts(accepted)
        return body

    def _send_receipts(self, accepted: Accepted) -> None:
        record = accepted.record
        if not record["status_report_req"]:
            return
        url = record["callback"] or f"{self._gateway}/webhooks/delivery-receipt"
        now = time.time()
        for part in accepted.parts:
            if part["status"] != "0":
                continue
            receipt = payloads.delivery_receipt(
                record,
                part["message-id"],
                status=self.config.dlr_status,
                price=part["message-price"],
                network=part["network"],
                now=now,
            )
            hook = build(
                "dlr", part["message-id"], url, self.settings.dlr_format, receipt, self._signer, now
            )
            self.deliverer.deliver(hook)

    # inbound -----------------------------------------------------------------------------

    async def inbound(self, request: InboundRequest) -> dict[str, Any]:
        """Deliver an SMS "from a phone" to the gateway; answers after each part's first
        attempt, retries continue in the background."""
        now = time.time()
        sender, receiver = digits(request.from_number), digits(request.to_number)
        if request.format == "messages":
            message = payloads.inbound_message(sender, receiver, request.text, now=now)
            url = f"{self._gateway}/webhooks/inbound-message"
            uuid = message["message_uuid"]
            specs: list[tuple[str, Format, dict[str, Any]]] = [(uuid, "messages", message)]
        else:
            url = f"{self._gateway}/webhooks/inbound-sms"
            parts = payloads.inbound_sms(
                sender,
                receiver,
                request.text,
                api_key=self.settings.api_key,
                ids=self._ids,
                now=now,
                split=request.split,
                shuffle=request.shuffle,
            )
            specs = [(p["messageId"], request.format, p) for p in parts]
        hooks = []
        statuses = []
        for message_id, fmt, payload in specs:
            hook = build("inbound", message_id, url, fmt, payload, self._signer, now)
            hooks.append(hook)
            statuses.append(await self.deliverer.first_attempt(hook))
            rate = self.config.duplicate_rate
            if request.duplicate or (rate and random.random() < rate):
                # A second delivery is signed anew (its own timestamp and nonce).
                again = build("inbound", message_id, url, fmt, payload, self._signer)
                self.deliverer.deliver(again)
        return {
            "messageId": hooks[0].message_id,
            "messageIds": [h.message_id for h in hooks],
            "status": statuses[0],
            "statuses": statuses,
        }

    # inspection --------------------------------------------------------------------------

    def deliveries(
        self, *, message_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            a
            for a in self.deliverer.attempts
            if (message_id is None or a["messageId"] == message_id)
            and (kind is None or a["kind"] == kind)
        ]
