"""The simulator over real HTTP: /sms/json in every transport, webhooks to a real server."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import jwt

from numproxy.common.http_server import running_http
from numproxy.common.vonage_signing import verify
from numproxy.simulator.app import create_app
from numproxy.simulator.settings import SimulatorSettings
from tests.integration.simulator.helpers import SIGNATURE_SECRET, SimStack, wait_for

CREDS = {"api_key": "simkey", "api_secret": "simsecret"}
SMS = {"from": "447700900001", "to": "447700900002", "text": "hello there"}


def inbound(text: str, **options: Any) -> dict[str, Any]:
    return {"from": "447700900001", "to": "447700900009", "text": text, **options}


def first(reply: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = reply["messages"][0]
    return entry


async def test_sms_json_over_get_form_and_json(sim: SimStack) -> None:
    get = await sim.http.get("/sms/json", params={**CREDS, **SMS, "client-ref": "g"})
    form = await sim.http.post("/sms/json", data={**CREDS, **SMS, "client-ref": "f"})
    body = await sim.http.post("/sms/json", json={**CREDS, **SMS, "client-ref": "j", "ttl": 90000})
    for reply in (get, form, body):
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["message-count"] == "1"
        assert first(reply.json())["status"] == "0"
    outbox = await sim.get("/_sim/outbox")
    assert [m["client_ref"] for m in outbox] == ["g", "f", "j"]
    assert {k: outbox[0][k] for k in ("from", "to", "text", "type", "parts")} == {
        **SMS,
        "type": "text",
        "parts": 1,
    }
    assert outbox[0]["message_id"] == first(get.json())["message-id"]
    assert (await sim.http.delete("/_sim/outbox")).json() == {"deleted": 3}
    assert await sim.get("/_sim/outbox") == []


async def test_errors_are_http_200_with_vonage_shape(sim: SimStack) -> None:
    reply = await sim.http.post("/sms/json", data={**CREDS, "to": SMS["to"], "text": "x"})
    assert reply.status_code == 200
    assert reply.json() == {
        "message-count": "1",
        "messages": [{"status": "2", "error-text": "Missing from param"}],
    }


async def test_malformed_json_is_a_vonage_error_not_a_500(sim: SimStack) -> None:
    for body in (b"{not json", b"[" * 100_000 + b"]" * 100_000):
        reply = await sim.http.post(
            "/sms/json", content=body, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 200
        assert first(reply.json())["status"] == "2"  # missing parameters, as Vonage answers


async def test_basic_auth(sim: SimStack) -> None:
    token = base64.b64encode(b"simkey:simsecret").decode()
    reply = await sim.http.post("/sms/json", data=SMS, headers={"Authorization": f"Basic {token}"})
    assert first(reply.json())["status"] == "0"


async def test_unicode_parts(sim: SimStack) -> None:
    reply = await sim.http.post(
        "/sms/json", data={**CREDS, **SMS, "text": "ж" * 71, "type": "unicode"}
    )
    assert reply.json()["message-count"] == "2"


async def test_error_rate_answers_500_without_accepting(sim: SimStack) -> None:
    await sim.post("/_sim/config", {"error_rate": 1})
    reply = await sim.http.post("/sms/json", data={**CREDS, **SMS})
    assert reply.status_code == 500
    assert await sim.get("/_sim/outbox") == []
    assert (await sim.get("/_sim/stats"))["http_500"] == 1


async def test_rate_limit_answers_status_1(sim: SimStack) -> None:
    await sim.post("/_sim/config", {"rate_limit": 1})
    replies = [await sim.http.post("/sms/json", data={**CREDS, **SMS}) for _ in range(2)]
    throttled = first(replies[1].json())
    assert throttled["status"] == "1"
    assert throttled["error-text"].startswith("Throughput Rate Exceeded - please wait [ ")
    assert (await sim.get("/_sim/stats"))["throttled"] == 1


async def test_config_round_trip_and_validation(sim: SimStack) -> None:
    config = await sim.post("/_sim/config", {"latency_ms": 5, "dlr_status": "failed"})
    assert (config["latency_ms"], config["dlr_status"]) == (5, "failed")
    assert (await sim.get("/_sim/config"))["dlr_status"] == "failed"
    bad = await sim.http.post("/_sim/config", json={"error_rate": 3})
    assert bad.status_code == 400
    await sim.post("/_sim/reset", {})
    assert (await sim.get("/_sim/config"))["dlr_status"] == "delivered"


async def test_inbound_is_retried_after_503_and_signed(sim: SimStack) -> None:
    sim.gateway.answers.extend([503])
    result = await sim.post("/_sim/inbound", inbound("hi there", **{"from": "+447700900001"}))
    assert result["status"] == 503
    await wait_for(lambda: len(sim.gateway.at("/webhooks/inbound-sms")) == 2)
    hooks = sim.gateway.at("/webhooks/inbound-sms")
    assert [h.method for h in hooks] == ["GET", "GET"]
    assert {h.params["messageId"] for h in hooks} == {result["messageId"]}
    params = hooks[0].params
    assert (params["msisdn"], params["to"], params["text"]) == (
        "447700900001",
        "447700900009",
        "hi there",
    )
    assert params["keyword"] == "HI"
    assert verify(params, SIGNATURE_SECRET, "sha512")
    assert "text=hi+there" in hooks[0].query  # spaces as "+", like Vonage
    attempts = await sim.get(f"/_sim/inbound/{result['messageId']}")
    assert [a["status"] for a in attempts["attempts"]] == [503, 204]


async def test_inbound_form_and_json_formats(sim: SimStack) -> None:
    for fmt, ctype in (("form", "application/x-www-form-urlencoded"), ("json", "application/json")):
        result = await sim.post(
            "/_sim/inbound",
            inbound("x", format=fmt),
        )
        assert result["status"] == 204
        [hook] = [
            h for h in sim.gateway.received if h.params.get("messageId") == result["messageId"]
        ]
        assert hook.method == "POST"
        assert hook.headers["content-type"].startswith(ctype)
        assert verify(hook.params, SIGNATURE_SECRET, "sha512")


async def test_inbound_messages_api_format_with_jwt(sim: SimStack) -> None:
    result = await sim.post(
        "/_sim/inbound",
        inbound("hey", format="messages"),
    )
    [hook] = sim.gateway.at("/webhooks/inbound-message")
    body = json.loads(hook.body)
    assert body["message_uuid"] == result["messageId"]
    assert (body["from"], body["text"], body["channel"]) == ("447700900001", "hey", "sms")
    token = hook.headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SIGNATURE_SECRET, algorithms=["HS256"])
    assert claims["payload_hash"] == hashlib.sha256(hook.body).hexdigest()


async def test_split_and_shuffle_deliver_concat_parts(sim: SimStack) -> None:
    text = "part one, part two, part three"
    result = await sim.post("/_sim/inbound", inbound(text, split=3, shuffle=True))
    hooks = sim.gateway.at("/webhooks/inbound-sms")
    assert [h.params["messageId"] for h in hooks] == result["messageIds"]
    assert len({h.params["messageId"] for h in hooks}) == 3
    assert [h.params["concat-part"] for h in hooks] != ["1", "2", "3"]
    assert {h.params["concat-ref"] for h in hooks} == {hooks[0].params["concat-ref"]}
    assert all(h.params["concat"] == "true" and h.params["concat-total"] == "3" for h in hooks)
    ordered = sorted(hooks, key=lambda h: int(h.params["concat-part"]))
    assert "".join(h.params["text"] for h in ordered) == text


async def test_duplicate_delivers_the_same_message_twice(sim: SimStack) -> None:
    result = await sim.post("/_sim/inbound", inbound("dup", duplicate=True))
    await wait_for(lambda: len(sim.gateway.at("/webhooks/inbound-sms")) == 2)
    hooks = sim.gateway.at("/webhooks/inbound-sms")
    assert {h.params["messageId"] for h in hooks} == {result["messageId"]}
    # Each delivery is signed anew, as Vonage signs each: not a replay of the first.
    assert len({(h.params["nonce"], h.params["sig"]) for h in hooks}) == 2
    assert all(verify(h.params, SIGNATURE_SECRET, "sha512") for h in hooks)


async def test_unreachable_gateway_answers_status_0() -> None:
    app = create_app(SimulatorSettings(gateway_url="http://127.0.0.1:9", retry_total=0))
    async with (
        running_http(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        reply = await http.post("/_sim/inbound", json=inbound("x"))
        deliveries = (await http.get("/_sim/deliveries")).json()
    assert reply.json()["status"] == 0
    assert deliveries[0]["status"] == 0 and deliveries[0]["error"]


async def test_delivery_receipt_per_part(sim: SimStack) -> None:
    reply = await sim.http.post(
        "/sms/json", data={**CREDS, **SMS, "text": "a" * 200, "client-ref": "out-7"}
    )
    ids = {m["message-id"] for m in reply.json()["messages"]}
    await wait_for(lambda: len(sim.gateway.at("/webhooks/delivery-receipt")) == 2)
    receipts = sim.gateway.at("/webhooks/delivery-receipt")
    assert {r.params["messageId"] for r in receipts} == ids
    for receipt in receipts:
        assert receipt.method == "GET"
        assert receipt.params["status"] == "delivered"
        assert receipt.params["err-code"] == "0"
        assert receipt.params["client-ref"] == "out-7"
        assert receipt.params["msisdn"] == SMS["to"]
        assert receipt.params["to"] == SMS["from"]
        assert verify(receipt.params, SIGNATURE_SECRET, "sha512")


async def test_receipts_follow_config_and_can_be_turned_off(sim: SimStack) -> None:
    await sim.post("/_sim/config", {"dlr_status": "failed"})
    await sim.http.post("/sms/json", data={**CREDS, **SMS})
    await wait_for(lambda: len(sim.gateway.at("/webhooks/delivery-receipt")) == 1)
    assert sim.gateway.at("/webhooks/delivery-receipt")[0].params["err-code"] == "8"
    await sim.post("/_sim/config", {"dlr_enabled": False})
    await sim.http.post("/sms/json", data={**CREDS, **SMS})
    stats = await sim.get("/_sim/stats")
    assert stats["messages_accepted"] == 2
    assert stats["webhooks_pending"] == 0
    assert len(sim.gateway.at("/webhooks/delivery-receipt")) == 1


async def test_receipt_is_retried_on_non_2xx(sim: SimStack) -> None:
    sim.gateway.answers.extend([500])
    reply = await sim.http.post("/sms/json", data={**CREDS, **SMS})
    message_id = first(reply.json())["message-id"]
    await wait_for(lambda: len(sim.gateway.at("/webhooks/delivery-receipt")) == 2)
    assert {r.params["messageId"] for r in sim.gateway.at("/webhooks/delivery-receipt")} == {
        message_id
    }
    attempts = await sim.get(f"/_sim/deliveries?messageId={message_id}&kind=dlr")
    assert [a["status"] for a in attempts] == [500, 204]
