"""Hostile webhooks: hypothesis strategies over the gateway's three endpoints, and a sender
that delivers one as Vonage would (signed anew when the gateway checks signatures).

Each webhook starts from a well-formed one for a live conversation, so hostile fields reach
the deep paths (multipart groups, keywords, the fan-out), then has some fields replaced by
hostile values, some removed and some added.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta, timezone
from typing import Any, Literal

import httpx
import jwt
from hypothesis import strategies as st

from numproxy.simulator.webhooks import Signer

INBOUND = "/webhooks/inbound-sms"
MESSAGE = "/webhooks/inbound-message"
RECEIPT = "/webhooks/delivery-receipt"

Transport = Literal["get", "form", "json", "raw"]
# Replaced by a new id on every delivery, so that no webhook is a duplicate of an earlier one
# (which the router would acknowledge before looking any further).
FRESH_ID = "fresh-id"

# What issue reports and the provider's limits make interesting, beside random values.
POISON_INTEGERS = [
    "2147483647",
    "3000000",
    "256",
    "255",
    "0",
    "-1",
    "1e9",
    " 1",
    "\u0661",
    "9" * 5000,
]
POISON_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1969-12-31 23:59:59",
    "2017-13-45 99:99:99",
    "2017-05-01+21:52:49",
]
POISON_TEXTS = ["a\x00b", "\x00", "bell\x07", "esc\x1b[31m", "del\x7f", "STOP", "🎉" * 40]

integers = st.one_of(
    st.integers(-(2**63), 2**63).map(str),
    st.sampled_from(POISON_INTEGERS),
    st.text(max_size=8),
)
times = st.one_of(
    st.builds(
        lambda moment, minutes, sep: moment.replace(
            tzinfo=timezone(timedelta(minutes=minutes))
        ).isoformat(sep=sep),
        st.datetimes(),
        st.integers(-1439, 1439),
        st.sampled_from([" ", "T"]),
    ),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S")),
    st.sampled_from(POISON_TIMES),
    st.text(max_size=40),
)
texts = st.one_of(
    st.text(max_size=200),
    st.text(st.characters(max_codepoint=0x20), max_size=20),  # control characters
    st.integers(3190, 3300).map(lambda n: "x" * n),  # around the length bound
    st.sampled_from(POISON_TEXTS),
)
numbers = st.one_of(
    st.text("0123456789", max_size=20),
    st.text("+0123456789 ()-.", max_size=20),
    st.sampled_from(["+", "0", "447700900001\x00", "\u0664\u0664\u0667\u0667\u0660\u0660"]),
    st.text(max_size=20),
)
values = st.one_of(texts, integers, times, numbers)


def hostile(
    base: dict[str, str], fields: dict[str, st.SearchStrategy[str]]
) -> st.SearchStrategy[dict[str, str]]:
    """``base`` with hostile values for one to three of ``fields`` (each drawn from its own
    strategy; few at a time, so that the others let the hostile ones be looked at), at times a
    field removed or an unknown one added."""

    def build(
        changes: dict[str, str], unknown: dict[str, str], removed: set[str]
    ) -> dict[str, str]:
        params = {**base, **unknown, **changes}
        return {key: value for key, value in params.items() if key not in removed}

    changed = st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)
    return st.builds(
        build,
        changed.flatmap(lambda keys: st.fixed_dictionaries({key: fields[key] for key in keys})),
        st.dictionaries(st.text(max_size=12), values, max_size=1),
        st.sets(st.sampled_from(sorted(fields)), max_size=1),
    )


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | values
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )


@dataclass(frozen=True)
class Webhook:
    path: str
    transport: Transport
    params: dict[str, str] | None = None  # SMS-API endpoints
    body: bytes = b""  # the Messages API, or a raw body
    content_type: str = ""
    authorization: str | None = None  # a hostile Authorization header instead of a signature


def sms_api_webhooks(
    path: str, params: st.SearchStrategy[dict[str, str]]
) -> st.SearchStrategy[Webhook]:
    transports: st.SearchStrategy[Transport] = st.sampled_from(["get", "form", "json"])
    well_formed = st.builds(lambda p, t: Webhook(path, t, params=p), params, transports)
    raw = st.builds(
        lambda body, kind: Webhook(path, "raw", body=body, content_type=kind),
        st.binary(max_size=300),
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=utf-16",
                "application/x-www-form-urlencoded; charset=punycode",
                "application/json",
                "text/plain",
            ]
        ),
    )
    return st.one_of(well_formed, well_formed, raw)


def message_webhooks(base: dict[str, Any]) -> st.SearchStrategy[Webhook]:
    fields = list(base)
    documents = st.builds(
        lambda changes, removed: {k: v for k, v in {**base, **changes}.items() if k not in removed},
        st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values(), max_size=4),
        st.sets(st.sampled_from(fields), max_size=2),
    )
    as_json = documents.map(
        lambda doc: Webhook(MESSAGE, "raw", body=json.dumps(doc).encode(), content_type="")
    )
    deep = st.integers(1, 30_000).map(
        lambda depth: Webhook(
            MESSAGE, "raw", body=b'{"usage": ' + b"[" * depth + b"]" * depth + b"}"
        )
    )
    raw = st.binary(max_size=300).map(lambda body: Webhook(MESSAGE, "raw", body=body))
    # Tokens whose claims no secret checked (an unsigned gateway still reads their api_key).
    tokens = st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200),
        st.builds(
            lambda claims: "Bearer " + jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256"),
            st.dictionaries(st.sampled_from(["api_key", "iat", "jti"]), json_values()),
        ),
    )
    forged = st.builds(lambda hook, token: replace(hook, authorization=token), as_json, tokens)
    return st.one_of(as_json, as_json, deep, raw, forged)


def send(http: httpx.Client, hook: Webhook, signer: Signer | None) -> httpx.Response:
    """Deliver ``hook`` as the provider would: signed anew when ``signer`` is given."""
    now = time.time()
    fresh = str(uuid.uuid4())
    hook = replace(
        hook,
        body=hook.body.replace(FRESH_ID.encode(), fresh.encode()),
        params=hook.params
        and {key: value.replace(FRESH_ID, fresh) for key, value in hook.params.items()},
    )
    if hook.path == MESSAGE:
        headers = {"content-type": hook.content_type or "application/json"}
        if hook.authorization is not None:
            headers["authorization"] = hook.authorization
        elif signer is not None:
            headers["authorization"] = signer.bearer(hook.body, now)
        return http.post(hook.path, content=hook.body, headers=headers)
    if hook.transport == "raw":
        return http.post(hook.path, content=hook.body, headers={"content-type": hook.content_type})
    assert hook.params is not None
    params = signer.sign_params(hook.params, now) if signer is not None else hook.params
    if hook.transport == "get":
        return http.get(hook.path, params=params)
    if hook.transport == "form":
        return http.post(hook.path, data=params)
    return http.post(hook.path, json=params)
