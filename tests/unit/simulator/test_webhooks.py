"""Webhook building (formats, signing, JWT) and the retry schedule."""

import hashlib
import json
from urllib.parse import parse_qsl

import jwt

from numproxy.common.vonage_signing import verify
from numproxy.simulator.webhooks import RetrySchedule, Signer, build

SECRET = "sigsecret-0123456789abcdef0123456789"
SIGNER = Signer(SECRET, "md5hash", "simkey", "app-id")
PAYLOAD = {"msisdn": "4477001", "text": "a & b = c", "messageId": "X1"}


def test_get_is_signed_over_all_params() -> None:
    hook = build("inbound", "X1", "http://gw/hook", "get", PAYLOAD, SIGNER, now=1_700_000_000)
    assert hook.method == "GET"
    assert hook.params is not None
    assert hook.params["timestamp"] == "1700000000"
    assert verify(hook.params, SECRET, "md5hash")


def test_form_and_json_bodies() -> None:
    form = build("inbound", "X1", "http://gw/hook", "form", PAYLOAD, None)
    assert form.content is not None
    assert dict(parse_qsl(form.content.decode())) == PAYLOAD
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    body = build("inbound", "X1", "http://gw/hook", "json", PAYLOAD, SIGNER)
    assert body.content is not None
    assert verify(json.loads(body.content), SECRET, "md5hash")


def test_messages_format_carries_a_jwt_over_the_body_hash() -> None:
    hook = build("inbound", "U1", "http://gw/m", "messages", {"text": "hi"}, SIGNER, now=5)
    assert hook.content is not None
    token = hook.headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert claims["payload_hash"] == hashlib.sha256(hook.content).hexdigest()
    assert claims["iss"] == "Vonage"
    assert claims["api_key"] == "simkey"


def test_retry_schedule_doubles_to_max_within_total() -> None:
    assert RetrySchedule(0.5, 5, 30).delays() == [0.5, 1, 2, 4, 5, 5, 5, 5]
    assert RetrySchedule(0.5, 5, 0).delays() == []
