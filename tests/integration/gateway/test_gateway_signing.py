"""Signed webhooks over HTTP: SMS-API ``sig`` with every method, Messages-API JWTs."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numproxy.common.errors import Unavailable
from numproxy.common.vonage_signing import METHODS, SignatureMethod, sign
from tests.integration.gateway.harness import SECRET, FakeRouter, GatewayFactory
from tests.integration.gateway.payloads import DLR, INBOUND, MESSAGE, MESSAGES_API, RECEIPT, SMS

RESERVED = frozenset({*SMS, "sig", "timestamp", "nonce", "concat", "concat-ref"})
RESERVED |= {"concat-total", "concat-part", "data", "udh"}


def signed(params: dict[str, str], method: SignatureMethod, secret: str = SECRET) -> dict[str, str]:
    params = dict(params)
    params.setdefault("timestamp", str(int(time.time())))
    params.setdefault("nonce", uuid.uuid4().hex)
    return dict(params, sig=sign(params, secret, method))


async def send(client: httpx.AsyncClient, path: str, transport: str, params: dict[str, str]) -> Any:
    if transport == "get":
        return await client.get(path, params=params)
    if transport == "form":
        return await client.post(path, data=params)
    return await client.post(path, json=params)


@pytest.fixture(params=METHODS)
async def signed_gateway(
    request: pytest.FixtureRequest, make_gateway: GatewayFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, SignatureMethod]]:
    method: SignatureMethod = request.param
    async with make_gateway(signature_secret=SECRET, signature_method=method) as client:
        yield client, method


# Any Unicode but lone surrogates, which no transport can carry as UTF-8.
characters = st.characters(codec="utf-8")
extra_params = st.dictionaries(
    st.text(characters, min_size=1, max_size=12).filter(lambda key: key not in RESERVED),
    st.text(characters, max_size=20)
    | st.sampled_from(["", "&", "=", "a&b=c", "ünï©ødé ✓", "x+y %20"]),
    max_size=4,
)
transports = st.sampled_from(["get", "form", "json"])


def canonical(char: str) -> str:
    # The signing base maps "&" and "=" in values to "_", so those three are interchangeable.
    return "_" if char in "&=_" else char


@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extras=extra_params, transport=transports, data=st.data())
async def test_accepts_exactly_what_is_signed(
    signed_gateway: tuple[httpx.AsyncClient, SignatureMethod],
    router: FakeRouter,
    extras: dict[str, str],
    transport: str,
    data: st.DataObject,
) -> None:
    client, method = signed_gateway
    params = signed({**SMS, **extras}, method)

    before = router.inbound.calls
    response = await send(client, INBOUND, transport, params)
    assert response.status_code == 204, response.text
    assert router.inbound.calls == before + 1

    # One changed character in one value...
    key = data.draw(st.sampled_from(sorted(k for k, v in params.items() if v and k != "sig")))
    value = params[key]
    index = data.draw(st.integers(0, len(value) - 1))
    char = data.draw(characters.filter(lambda c: canonical(c) != canonical(value[index])))
    tampered = dict(params, **{key: value[:index] + char + value[index + 1 :]})
    response = await send(client, INBOUND, transport, tampered)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "SIGNATURE_INVALID"

    # ...or in the sig (case is not a change: Vonage's case differs by method).
    sig = params["sig"]
    index = data.draw(st.integers(0, len(sig) - 1))
    char = data.draw(st.sampled_from("0123456789abcdefg").filter(lambda c: c != sig[index].lower()))
    response = await send(
        client, INBOUND, transport, dict(params, sig=sig[:index] + char + sig[index + 1 :])
    )
    assert response.status_code == 401
    assert router.inbound.calls == before + 1


async def test_sig_case_does_not_matter(
    signed_gateway: tuple[httpx.AsyncClient, SignatureMethod], router: FakeRouter
) -> None:
    client, method = signed_gateway
    upper, lower = signed(SMS, method), signed(SMS, method)  # two deliveries (own nonces)
    for params, sig in ((upper, upper["sig"].upper()), (lower, lower["sig"].lower())):
        response = await client.post(INBOUND, data=dict(params, sig=sig))
        assert response.status_code == 204
    # The other case of an accepted sig is the same request again: a replay.
    replay = await client.post(INBOUND, data=dict(upper, sig=upper["sig"].lower()))
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "SIGNATURE_REPLAYED"
    assert router.inbound.calls == 2


@pytest.mark.parametrize(("path", "transport"), [(INBOUND, "get"), (RECEIPT, "form")])
async def test_replayed_signed_webhook_is_401_and_not_routed(
    make_gateway: GatewayFactory, router: FakeRouter, path: str, transport: str
) -> None:
    params = signed(SMS if path == INBOUND else DLR, "sha256")
    async with make_gateway(signature_secret=SECRET, signature_method="sha256") as client:
        first = await send(client, path, transport, params)
        again = await send(client, path, transport, params)
        # The same request by another transport is the same signed request.
        other = await send(client, path, "json", params)
    assert first.status_code == 204
    for replay in (again, other):
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "SIGNATURE_REPLAYED"
    assert router.inbound.calls == 1


async def test_signed_webhook_not_accepted_may_be_delivered_again(
    make_gateway: GatewayFactory, router: FakeRouter
) -> None:
    """A 503 (router down) is not an acceptance: Vonage's retry of the same request passes."""
    params = signed(SMS, "md5hash")
    router.inbound.fail_with = Unavailable("database down")
    async with make_gateway(signature_secret=SECRET) as client:
        refused = await client.post(INBOUND, data=params)
        router.inbound.fail_with = None
        retried = await client.post(INBOUND, data=params)
        replayed = await client.post(INBOUND, data=params)
    assert (refused.status_code, retried.status_code, replayed.status_code) == (503, 204, 401)
    assert [sms.message_id for sms in router.inbound.sms] == [SMS["messageId"]]


async def test_replayed_messages_api_token_is_401(
    make_gateway: GatewayFactory, router: FakeRouter
) -> None:
    token = message_token(BODY)
    async with make_gateway(signature_secret=SECRET) as client:
        first = await post_message(client, BODY, token)
        again = await post_message(client, BODY, token)
        fresh = await post_message(client, BODY, message_token(BODY))
    assert (first.status_code, again.status_code, fresh.status_code) == (204, 401, 204)
    assert again.json()["error"]["code"] == "SIGNATURE_REPLAYED"
    assert router.inbound.calls == 2


@pytest.mark.parametrize("path", [INBOUND, RECEIPT])
@pytest.mark.parametrize("transport", ["get", "form", "json"])
async def test_unsigned_or_badly_signed_is_401_and_not_routed(
    make_gateway: GatewayFactory, router: FakeRouter, path: str, transport: str
) -> None:
    params = SMS if path == INBOUND else DLR
    async with make_gateway(signature_secret=SECRET) as client:
        unsigned = await send(client, path, transport, params)
        assert unsigned.status_code == 401
        assert unsigned.json()["error"]["code"] == "SIGNATURE_REQUIRED"
        wrong_secret = await send(client, path, transport, signed(params, "md5hash", "other"))
        assert wrong_secret.status_code == 401
        assert wrong_secret.json()["error"]["code"] == "SIGNATURE_INVALID"
        other_method = await send(client, path, transport, signed(params, "sha256"))
        assert other_method.status_code == 401
        good = await send(client, path, transport, signed(params, "md5hash"))
        assert good.status_code == 204
    assert router.inbound.calls == 1


async def test_signed_receipt_is_routed(make_gateway: GatewayFactory, router: FakeRouter) -> None:
    async with make_gateway(signature_secret=SECRET, signature_method="sha512") as client:
        response = await client.get(RECEIPT, params=signed(DLR, "sha512"))
    assert response.status_code == 204
    assert [r.message_id for r in router.inbound.receipts] == [DLR["messageId"]]


@pytest.mark.parametrize("skew", [-400, 400])  # exact boundaries: unit tests, fixed clock
async def test_stale_or_future_timestamp_is_401(
    make_gateway: GatewayFactory, router: FakeRouter, skew: int
) -> None:
    params = signed(dict(SMS, timestamp=str(int(time.time()) + skew)), "md5hash")
    async with make_gateway(signature_secret=SECRET) as client:
        response = await client.post(INBOUND, data=params)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "SIGNATURE_EXPIRED"
    assert router.inbound.calls == 0


async def test_max_age_zero_skips_the_timestamp_check(
    make_gateway: GatewayFactory, router: FakeRouter
) -> None:
    params = signed(dict(SMS, timestamp="1234567890"), "md5hash")
    async with make_gateway(signature_secret=SECRET, signature_max_age=0) as client:
        response = await client.post(INBOUND, data=params)
    assert response.status_code == 204
    assert router.inbound.calls == 1


VECTOR = {"param1": "value1", "param2": "value2", "timestamp": "1234567890"}
VECTOR_SIGS = {
    "sha256": "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287",
    "md5": "724c2bf6ca423c36e20631b11d1c5753",
}


@pytest.mark.parametrize("method", sorted(VECTOR_SIGS))
async def test_reference_vectors_pass_the_signature_check(
    make_gateway: GatewayFactory, router: FakeRouter, method: SignatureMethod
) -> None:
    expected = VECTOR_SIGS[method]
    async with make_gateway(
        signature_secret="signature_secret", signature_method=method, signature_max_age=0
    ) as client:
        for sig in (expected, expected.upper()):
            # Signature accepted: the request then fails only for lacking receipt fields.
            response = await client.get(RECEIPT, params=dict(VECTOR, sig=sig))
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "MISSING_PARAMETER"
        wrong = await client.get(RECEIPT, params=dict(VECTOR, param1="value2", sig=expected))
        assert wrong.status_code == 401
    assert router.inbound.calls == 0


def message_token(body: bytes, secret: str = SECRET, **claims: Any) -> str:
    payload = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "abcd1234",
        "application_id": "app-1",
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


async def post_message(client: httpx.AsyncClient, body: bytes, token: str | None) -> Any:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post(MESSAGE, content=body, headers=headers)


async def test_messages_api_valid_jwt(make_gateway: GatewayFactory, router: FakeRouter) -> None:
    body = json.dumps(MESSAGES_API).encode()
    async with make_gateway(signature_secret=SECRET) as client:
        response = await post_message(client, body, message_token(body))
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert (sms.api_key, sms.message_id) == ("abcd1234", MESSAGES_API["message_uuid"])


def unsigned_token(body: bytes) -> str:
    claims = {"iat": int(time.time()), "payload_hash": hashlib.sha256(body).hexdigest()}
    return jwt.encode(claims, None, algorithm="none")


BODY = json.dumps(MESSAGES_API).encode()


@pytest.mark.parametrize(
    ("token", "body", "code"),
    [
        (None, BODY, "TOKEN_REQUIRED"),
        ("not-a-jwt", BODY, "TOKEN_INVALID"),
        (message_token(BODY, secret="x" * 40), BODY, "TOKEN_INVALID"),
        (unsigned_token(BODY), BODY, "TOKEN_INVALID"),
        (message_token(BODY, payload_hash=None), BODY, "TOKEN_INVALID"),
        (message_token(BODY), BODY.replace(b"Hello", b"Hallo"), "PAYLOAD_HASH_MISMATCH"),
        (message_token(BODY, iat=int(time.time()) - 3600), BODY, "SIGNATURE_EXPIRED"),
        (message_token(BODY, exp=int(time.time()) - 60), BODY, "TOKEN_INVALID"),
    ],
    ids=["missing", "garbage", "wrong-secret", "alg-none", "no-hash", "tampered", "old", "expired"],
)
async def test_messages_api_bad_jwt_is_401(
    make_gateway: GatewayFactory, router: FakeRouter, token: str | None, body: bytes, code: str
) -> None:
    async with make_gateway(signature_secret=SECRET) as client:
        response = await post_message(client, body, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert router.inbound.calls == 0


async def test_messages_api_without_secret_reads_api_key_unverified(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await post_message(gateway, BODY, message_token(BODY, secret="y" * 40))
    assert response.status_code == 204
    assert router.inbound.sms[0].api_key == "abcd1234"


async def test_401_log_line_has_no_secret_or_query(
    make_gateway: GatewayFactory, router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with make_gateway(signature_secret=SECRET) as client:
        response = await client.get(INBOUND, params=signed(SMS, "md5hash", "other"))
    assert response.status_code == 401
    # The server side's records only (httpx, the test's client, logs its own URLs).
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("numproxy", "uvicorn"))
    )
    assert "inbound-sms GET 401" in server_log
    assert "error=SIGNATURE_INVALID" in server_log
    for leak in (SECRET, "447700900001", "msisdn=", "sig="):
        assert leak not in server_log
