"""Parsing Vonage's per-part answers."""

import pytest

from numproxy.sender.replies import MalformedReply, lowest_balance, parse_reply, total_price

TWO_PARTS = b"""{"message-count":"2","messages":[
 {"to":"447700900000","message-id":"0C000000217B7F02","status":"0",
  "remaining-balance":"15.53590000","message-price":"0.03330000","network":"23410",
  "client-ref":"abc"},
 {"to":"447700900000","message-id":"0C000000217B7F03","status":"0",
  "remaining-balance":"15.50260000","message-price":"0.03330000","network":"23410"}]}"""


def test_success_parts() -> None:
    reply = parse_reply(TWO_PARTS)
    assert reply.message_count == 2
    assert [p.message_id for p in reply.accepted] == ["0C000000217B7F02", "0C000000217B7F03"]
    assert total_price(reply.parts) == "0.06660000"
    assert lowest_balance(reply.parts) == "15.50260000"


def test_error_entry() -> None:
    reply = parse_reply(
        b'{"message-count":"1","messages":[{"status":"2","error-text":"Missing from param"}]}'
    )
    assert reply.rejected[0].status == 2
    assert reply.rejected[0].error_text == "Missing from param"
    assert reply.accepted == ()


@pytest.mark.parametrize("body", [b"<html>", b"{}", b'{"messages":[]}', b'{"messages":[{}]}'])
def test_malformed(body: bytes) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(body)
