"""/sms/json validation and answers, called directly."""

import base64
from typing import Any

import pytest
from pydantic import SecretStr

from numproxy.common.vonage_signing import sign
from numproxy.simulator.settings import SimulatorSettings
from numproxy.simulator.sms_api import SmsApi, basic_credentials
from numproxy.simulator.state import SimConfig, Stats

NOW = 1_700_000_000.0
GOOD = {
    "api_key": "simkey",
    "api_secret": "simsecret",
    "from": "447700900001",
    "to": "447700900002",
    "text": "hello",
}


def make_api(**overrides: Any) -> SmsApi:
    settings = SimulatorSettings(
        signature_secret=SecretStr("sigsecret"), signature_method="sha256", **overrides
    )
    return SmsApi(settings, SimConfig.from_settings(settings), Stats(), clock=lambda: NOW)


def answer(api: SmsApi, params: dict[str, str], auth: str | None = None) -> dict[str, Any]:
    body, _ = api.submit(params, auth)
    entry: dict[str, Any] = body["messages"][0]
    return entry


def test_success_shape() -> None:
    api = make_api()
    body, accepted = api.submit({**GOOD, "client-ref": "abc"})
    assert body["message-count"] == "1"
    entry = body["messages"][0]
    assert set(entry) == {
        "to",
        "message-id",
        "status",
        "remaining-balance",
        "message-price",
        "network",
        "client-ref",
    }
    assert entry["status"] == "0"
    assert entry["client-ref"] == "abc"
    assert len(entry["message-id"]) == 16
    assert entry["remaining-balance"] == "999999.96670000"
    assert accepted is not None
    assert accepted.record["client_ref"] == "abc"
    assert api.outbox[0]["text"] == "hello"


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        ({"from": ""}, 2, "Missing from param"),
        ({"to": None}, 2, "Missing to param"),
        ({"text": ""}, 2, "Missing text param"),
        ({"api_key": None}, 2, "Missing api_key param"),
        ({"to": "12345"}, 3, "Invalid to param"),
        ({"ttl": "100"}, 3, "Invalid ttl param"),
        ({"type": "weird"}, 3, "Invalid type param"),
        ({"api_secret": "wrong"}, 4, "Bad Credentials"),
        ({"text": "a" * 3201}, 12, "Message too long"),
        ({"from": "not a sender id!"}, 15, "Invalid from address"),
        ({"message-class": "7"}, 20, "Invalid Message class"),
        ({"callback": "ftp://x"}, 23, "Invalid callback url"),
        ({"sig": "abc"}, 32, "Signature and api secret disallowed"),
    ],
)
def test_error_statuses(change: dict[str, str | None], status: int, text: str) -> None:
    params = {**GOOD, **change}
    entry = answer(make_api(), {k: v for k, v in params.items() if v is not None})
    assert entry == {"status": str(status), "error-text": text}


def test_3200_chars_are_accepted_in_21_parts() -> None:
    body, _ = make_api().submit({**GOOD, "text": "a" * 3200})
    assert body["message-count"] == "21"
    assert len({m["message-id"] for m in body["messages"]}) == 21


@pytest.mark.parametrize(
    ("text", "kind", "parts"),
    [
        ("a" * 160, "text", 1),
        ("a" * 161, "text", 2),
        ("ж" * 70, "unicode", 1),
        ("ж" * 71, "unicode", 2),
    ],
)
def test_parts_per_encoding(text: str, kind: str, parts: int) -> None:
    body, _ = make_api().submit({**GOOD, "text": text, "type": kind})
    assert body["message-count"] == str(parts)


def test_basic_auth() -> None:
    token = base64.b64encode(b"simkey:simsecret").decode()
    params = {k: v for k, v in GOOD.items() if not k.startswith("api_")}
    assert answer(make_api(), params, f"Basic {token}")["status"] == "0"
    wrong = base64.b64encode(b"simkey:nope").decode()
    assert answer(make_api(), params, f"Basic {wrong}")["status"] == "4"
    assert basic_credentials("Bearer x") is None


def test_signature_auth() -> None:
    params = {k: v for k, v in GOOD.items() if k != "api_secret"}
    params["timestamp"] = str(int(NOW))
    signed = {**params, "sig": sign(params, "sigsecret", "sha256")}
    assert answer(make_api(), signed)["status"] == "0"
    assert answer(make_api(), {**signed, "text": "changed"})["status"] == "14"
    stale = {**params, "timestamp": str(int(NOW) - 3600)}
    assert (
        answer(make_api(), {**stale, "sig": sign(stale, "sigsecret", "sha256")})["status"] == "14"
    )


def test_throttling_answers_status_1_with_wait() -> None:
    api = make_api(rate_limit=2)
    entries = [answer(api, GOOD) for _ in range(3)]
    assert [e["status"] for e in entries] == ["0", "0", "1"]
    assert entries[2]["error-text"].startswith("Throughput Rate Exceeded - please wait [ ")
    assert api._stats.statuses[1] == 1


def test_status_queue_scripts_answers_and_partial_failures() -> None:
    api = make_api()
    api._config.update({"status_queue": [10, [0, 7]]})
    assert answer(api, GOOD) == {"status": "10", "error-text": "Too many existing binds"}
    body, accepted = api.submit({**GOOD, "text": "a" * 200})
    assert [m["status"] for m in body["messages"]] == ["0", "7"]
    assert accepted is not None and len(accepted.record["message_ids"]) == 1
    assert answer(api, GOOD)["status"] == "0"


def test_insufficient_balance_is_status_9() -> None:
    api = make_api(balance="0.01")
    assert answer(api, GOOD)["status"] == "9"
