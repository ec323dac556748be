"""Vonage SMS API client: ``POST {base_url}/sms/json`` as a form, authenticated by
api_key + api_secret or by a ``sig`` + ``timestamp`` signature."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from numproxy.common.sms_encoding import Encoding
from numproxy.common.vonage_signing import SignatureMethod, sign
from numproxy.sender.replies import ProviderReply, parse_reply
from numproxy.sender.settings import AuthMethod


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    api_secret: str = ""
    auth_method: AuthMethod = "secret"
    signature_secret: str = ""
    signature_method: SignatureMethod = "md5hash"

    def __repr__(self) -> str:  # never show secrets
        return f"Credentials(api_key={self.api_key!r}, auth_method={self.auth_method!r})"


@dataclass(frozen=True, slots=True)
class OutboundSms:
    from_number: str  # E.164 with "+"
    to_number: str
    text: str
    encoding: Encoding
    client_ref: str = ""
    ttl_ms: int | None = None


class ProviderTimeout(Exception):
    """No answer within the time allowed; the message may or may not have been accepted."""


class ProviderUnreachable(Exception):
    """The request could not be delivered (connection refused/reset, DNS, TLS)."""


class ProviderHttpError(Exception):
    """A non-200 HTTP answer (Vonage answers 200 even for errors, so this is 429/5xx)."""

    def __init__(self, status_code: int, retry_after: float | None) -> None:
        super().__init__(f"provider answered HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class VonageClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        # Parsed once: a URL string would be parsed again on every request.
        self._url = httpx.URL(base_url.rstrip("/") + "/sms/json")
        self._credentials = credentials
        self._clock = clock

    @property
    def api_key(self) -> str:
        return self._credentials.api_key

    def build_form(self, sms: OutboundSms) -> dict[str, str]:
        creds = self._credentials
        form = {
            "api_key": creds.api_key,
            "from": sms.from_number.lstrip("+"),
            "to": sms.to_number.lstrip("+"),
            "text": sms.text,
            "type": sms.encoding.value,
            "status-report-req": "1",
        }
        if sms.client_ref:
            form["client-ref"] = sms.client_ref
        if sms.ttl_ms is not None:
            form["ttl"] = str(sms.ttl_ms)
        if creds.auth_method == "signature":
            form["timestamp"] = str(int(self._clock()))
            form["sig"] = sign(form, creds.signature_secret, creds.signature_method)
        else:
            form["api_secret"] = creds.api_secret
        return form

    async def send(self, sms: OutboundSms, *, http_timeout: float) -> ProviderReply:
        try:
            form = self.build_form(sms)
            response = await self._http.post(self._url, data=form, timeout=http_timeout)
        except httpx.ConnectTimeout as exc:
            # Not connected in time: nothing was sent. (The aiohttp transport also reports a
            # dropped connection as ConnectTimeout.)
            raise ProviderUnreachable(type(exc).__name__) from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise ProviderUnreachable(type(exc).__name__) from exc
        if response.status_code != 200:
            raise ProviderHttpError(response.status_code, _retry_after(response))
        return parse_reply(response.content)
