"""Each webhook format through the real app over HTTP to a fake router over real gRPC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from numproxy.common.errors import DomainError, FailedPrecondition, InvalidArgument, Unavailable
from numproxy.common.grpc_client import open_channel
from numproxy.gateway.app import create_app
from numproxy.gateway.router_client import RouterClient
from numproxy.gateway.settings import GatewaySettings
from numproxy.internal.v1 import inbound_pb2
from tests.integration.gateway.harness import FakeRouter, GatewayFactory, free_port, running_gateway
from tests.integration.gateway.payloads import DLR, INBOUND, MESSAGE, MESSAGES_API, RECEIPT, SMS


def assert_sms_fields(sms: inbound_pb2.ReceiveSmsRequest) -> None:
    assert sms.message_id == "0B00000042AC53BD"
    assert sms.from_number == "+447700900001"
    assert sms.to_number == "+447700900002"
    assert sms.text == "Hello world"
    assert sms.type == inbound_pb2.MESSAGE_TYPE_TEXT
    assert sms.api_key == "abcd1234"
    assert sms.message_time.ToDatetime(UTC) == datetime(2017, 5, 1, 21, 52, 49, tzinfo=UTC)


async def test_inbound_sms_get_with_plus_for_spaces(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    query = (
        "msisdn=447700900001&to=447700900002&messageId=0B00000042AC53BD&text=Hello+world"
        "&type=text&keyword=HELLO&api-key=abcd1234&message-timestamp=2017-05-01+21%3A52%3A49"
    )
    response = await gateway.get(f"{INBOUND}?{query}")
    assert response.status_code == 204
    assert response.content == b""
    [sms] = router.inbound.sms
    assert_sms_fields(sms)


async def test_inbound_sms_form_with_charset(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await gateway.post(
        INBOUND,
        content=httpx.QueryParams(SMS).__str__().encode(),
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert_sms_fields(sms)


async def test_inbound_sms_json(gateway: httpx.AsyncClient, router: FakeRouter) -> None:
    response = await gateway.post(INBOUND, json=SMS)
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert_sms_fields(sms)


async def test_unicode_multipart_part_reaches_router(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    params = dict(
        SMS,
        type="unicode",
        text="Grüße 👋",
        concat="true",
        **{"concat-ref": "0A1B", "concat-total": "3", "concat-part": "2"},
    )
    response = await gateway.post(INBOUND, data=params)
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert (sms.type, sms.text) == (inbound_pb2.MESSAGE_TYPE_UNICODE, "Grüße 👋")
    assert (sms.concat_ref, sms.concat_total, sms.concat_part) == ("0A1B", 3, 2)


async def test_binary_sms_carries_data_and_udh(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    params = {k: v for k, v in SMS.items() if k != "text"}
    params.update(type="binary", data="48656c6c6f", udh="050003cc0201")
    response = await gateway.get(INBOUND, params=params)
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert (sms.type, sms.data, sms.udh, sms.text) == (
        inbound_pb2.MESSAGE_TYPE_BINARY,
        "48656c6c6f",
        "050003cc0201",
        "",
    )


async def test_messages_api_inbound(gateway: httpx.AsyncClient, router: FakeRouter) -> None:
    response = await gateway.post(MESSAGE, json=MESSAGES_API)
    assert response.status_code == 204
    [sms] = router.inbound.sms
    assert sms.message_id == "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    assert (sms.from_number, sms.to_number) == ("+447700900001", "+447700900002")
    assert sms.text == "Hello from the Messages API"
    assert sms.message_time.ToDatetime(UTC) == datetime(2020, 1, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("transport", ["get", "form", "json"])
async def test_delivery_receipt_each_transport(
    gateway: httpx.AsyncClient, router: FakeRouter, transport: str
) -> None:
    if transport == "get":
        response = await gateway.get(RECEIPT, params=DLR)
    elif transport == "form":
        response = await gateway.post(RECEIPT, data=DLR)
    else:
        response = await gateway.post(RECEIPT, json=DLR)
    assert response.status_code == 204
    [receipt] = router.inbound.receipts
    assert receipt.message_id == "0C0000002EEBDA56"
    assert receipt.recipient_number == "+4527631111"
    assert receipt.sender_id == "+447700900002"
    assert (receipt.status, receipt.error_code) == ("delivered", 0)
    assert (receipt.client_ref, receipt.network_code, receipt.price) == (
        "outbound-42",
        "23820",
        "0.01820000",
    )
    assert receipt.api_key == "abcd1234"
    assert receipt.message_time.ToDatetime(UTC) == datetime(2017, 5, 2, 11, 24, 3, tzinfo=UTC)


async def test_reference_dlr_sample_query(gateway: httpx.AsyncClient, router: FakeRouter) -> None:
    query = (
        "msisdn=4527631111&to=Tak&network-code=23820&messageId=0C0000002EEBDA56"
        "&price=0.01820000&status=delivered&scts=1705021324&err-code=0"
        "&message-timestamp=2017-05-02+11%3A24%3A03"
    )
    response = await gateway.get(f"{RECEIPT}?{query}")
    assert response.status_code == 204
    [receipt] = router.inbound.receipts
    assert (receipt.sender_id, receipt.status) == ("Tak", "delivered")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"msisdn": None}, "MISSING_PARAMETER"),
        ({"to": None}, "MISSING_PARAMETER"),
        ({"messageId": None}, "MISSING_PARAMETER"),
        ({"text": None}, "MISSING_PARAMETER"),
        ({"text": None, "type": "unicode"}, "MISSING_PARAMETER"),
        ({"msisdn": "not-a-number"}, "INVALID_NUMBER"),
        ({"to": "123"}, "INVALID_NUMBER"),
        ({"messageId": "id with spaces"}, "INVALID_PARAMETER"),
        ({"type": "mms"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "yesterday"}, "INVALID_PARAMETER"),
        ({"concat-part": "x"}, "INVALID_PARAMETER"),
    ],
)
async def test_bad_inbound_sms_is_400_with_json_error(
    gateway: httpx.AsyncClient, router: FakeRouter, change: dict[str, str | None], code: str
) -> None:
    params = {k: v for k, v in {**SMS, **change}.items() if v is not None}
    response = await gateway.post(INBOUND, data=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert router.inbound.calls == 0


async def test_bad_delivery_receipt_is_400(gateway: httpx.AsyncClient, router: FakeRouter) -> None:
    response = await gateway.get(RECEIPT, params={**DLR, "err-code": "-1"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert router.inbound.calls == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<sms/>", "application/xml"),
        (b"msisdn=1", "text/plain"),
        (b"msisdn=1", None),
    ],
)
async def test_unsupported_content_type_is_415(
    gateway: httpx.AsyncClient, router: FakeRouter, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await gateway.post(INBOUND, content=content, headers=headers)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert router.inbound.calls == 0


async def test_messages_api_needs_json(gateway: httpx.AsyncClient, router: FakeRouter) -> None:
    response = await gateway.post(MESSAGE, data={"text": "hi"})
    assert response.status_code == 415
    assert router.inbound.calls == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "INVALID_BODY"),
        (b'["a list"]', "INVALID_BODY"),
        (b'{"msisdn": {"nested": 1}}', "INVALID_PARAMETER"),
        (b'{"text": "\\udc00"}', "INVALID_BODY"),
        (b'{"msisdn": "447700900001", "msisdn": "447700900009"}', "DUPLICATE_PARAMETER"),
    ],
)
async def test_malformed_json_is_400(
    gateway: httpx.AsyncClient, router: FakeRouter, body: bytes, code: str
) -> None:
    response = await gateway.post(
        INBOUND, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert router.inbound.calls == 0


async def test_repeated_query_parameter_is_400(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await gateway.get(f"{INBOUND}?{httpx.QueryParams(SMS)}&to=447700900003")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "DUPLICATE_PARAMETER"
    assert router.inbound.calls == 0


async def test_oversized_body_is_413(make_gateway: GatewayFactory, router: FakeRouter) -> None:
    async with make_gateway(max_body_bytes=1024) as client:
        response = await client.post(INBOUND, data=dict(SMS, text="x" * 2000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert router.inbound.calls == 0


async def test_oversized_query_string_is_414(
    make_gateway: GatewayFactory, router: FakeRouter
) -> None:
    async with make_gateway(max_body_bytes=1024) as client:
        response = await client.get(INBOUND, params=dict(SMS, text="x" * 2000))
    assert response.status_code == 414
    assert response.json()["error"]["code"] == "QUERY_TOO_LONG"
    assert router.inbound.calls == 0


@pytest.mark.parametrize("charset", ["utf-7", "punycode", "rot13", "utf-16"])
async def test_unsupported_charset_is_415(
    gateway: httpx.AsyncClient, router: FakeRouter, charset: str
) -> None:
    response = await gateway.post(
        INBOUND,
        content=str(httpx.QueryParams(SMS)).encode(),
        headers={"content-type": f"application/x-www-form-urlencoded; charset={charset}"},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_CHARSET"
    assert router.inbound.calls == 0


async def test_deeply_nested_messages_api_json_is_400(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    body = b'{"usage": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    response = await gateway.post(
        MESSAGE, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "JSON_TOO_DEEP"
    assert router.inbound.calls == 0


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Unavailable("database down"), 503, "ROUTER_UNAVAILABLE"),
        (InvalidArgument("text too long", reason="TEXT_TOO_LONG"), 400, "TEXT_TOO_LONG"),
        (FailedPrecondition("pool draining"), 500, "ROUTER_ERROR"),
    ],
)
async def test_router_errors_map_to_http(
    gateway: httpx.AsyncClient,
    router: FakeRouter,
    error: DomainError,
    status: int,
    code: str,
) -> None:
    router.inbound.fail_with = error
    for path, params in ((INBOUND, SMS), (RECEIPT, DLR)):
        response = await gateway.post(path, data=params)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code


async def test_slow_router_is_503_after_the_deadline(
    make_gateway: GatewayFactory, router: FakeRouter
) -> None:
    router.inbound.hang = True
    async with make_gateway(router_timeout=0.2) as client:
        response = await client.post(INBOUND, data=SMS)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ROUTER_UNAVAILABLE"


async def test_router_down_is_503_and_not_ready() -> None:
    async with running_gateway(f"127.0.0.1:{free_port()}", router_timeout=1.0) as client:
        for path, params in ((INBOUND, SMS), (RECEIPT, DLR)):
            response = await client.post(path, data=params)
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "ROUTER_UNAVAILABLE"
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_readiness_follows_router_health(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    assert (await gateway.get("/readyz")).status_code == 200
    await router.set_serving(False)
    response = await gateway.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "router not serving"}
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}


async def test_request_id_is_forwarded_to_the_router(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await gateway.post(INBOUND, data=SMS, headers={"x-request-id": "req-123"})
    assert response.status_code == 204
    assert response.headers["x-request-id"] == "req-123"
    assert router.inbound.request_ids == ["req-123"]


async def test_webhooks_arriving_together_share_router_calls(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    responses = await asyncio.gather(
        *(gateway.post(INBOUND, data={**SMS, "messageId": f"0B0000004{n:03d}"}) for n in range(40))
    )

    assert [r.status_code for r in responses] == [204] * 40
    assert sum(router.inbound.batches) == 40
    assert len(router.inbound.batches) < 40
    assert sorted(m.message_id for m in router.inbound.sms) == sorted(
        f"0B0000004{n:03d}" for n in range(40)
    )


async def test_one_refused_sms_of_a_shared_call_fails_alone(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.inbound.fail_with = InvalidArgument("bad", reason="INVALID_NUMBER")
    refused = await gateway.post(INBOUND, data=SMS)
    router.inbound.fail_with = None
    accepted = await gateway.post(INBOUND, data={**SMS, "messageId": "0B00000099"})

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "INVALID_NUMBER")
    assert accepted.status_code == 204


async def test_unknown_route_and_method_are_json(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/webhooks/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    wrong = await gateway.put(INBOUND, content=b"")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert "POST" in wrong.headers["allow"]


async def test_one_masked_log_line_per_webhook(
    gateway: httpx.AsyncClient, router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="numproxy.gateway")
    response = await gateway.get(INBOUND, params=SMS)
    assert response.status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "numproxy.gateway.app"]
    assert lines == [
        "inbound-sms GET 204 message_id=0B00000042AC53BD from=+44***01 to=+44***02"
        " outcome=FORWARDED"
    ]
    assert "447700900001" not in caplog.text
    assert "Hello" not in caplog.text


async def test_router_failure_is_one_log_line_with_the_grpc_code(
    gateway: httpx.AsyncClient, router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="numproxy")
    router.inbound.fail_with = Unavailable("database down")
    response = await gateway.post(INBOUND, data=SMS)
    assert response.status_code == 503
    [line] = [r.getMessage() for r in caplog.records if r.name.startswith("numproxy.gateway")]
    assert line.startswith("inbound-sms POST 503 message_id=0B00000042AC53BD")
    assert "error=ROUTER_UNAVAILABLE (router UNAVAILABLE: database down)" in line


class BrokenRouter(RouterClient):
    async def receive_sms(
        self, request: inbound_pb2.ReceiveSmsRequest
    ) -> inbound_pb2.ReceiveSmsResponse:
        raise RuntimeError("bug with +447700900001 in it")


async def test_unexpected_error_is_500_json_without_traceback(
    router: FakeRouter, caplog: pytest.LogCaptureFixture
) -> None:
    channel = open_channel(router.address)
    app = create_app(GatewaySettings(allow_unsigned=True), BrokenRouter(channel, 1.0))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            response = await client.post(INBOUND, data=SMS)
    finally:
        await channel.close(None)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL", "message": "internal error"}}
    [record] = [r for r in caplog.records if r.name == "numproxy.gateway.app"]
    assert record.exc_info is not None
    assert "error=INTERNAL" in record.getMessage()
