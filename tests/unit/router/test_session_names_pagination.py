"""Resource names and page tokens (pure functions)."""

from __future__ import annotations

import uuid

import pytest

from numproxy.common.errors import InvalidArgument
from numproxy.router.sessions import names
from numproxy.router.sessions.pagination import decode_token, encode_token, page_size, paginate


def test_names_accept_resource_names_and_bare_ids() -> None:
    sid = str(uuid.uuid4())
    assert names.session_id(f"sessions/{sid}") == names.session_id(sid) == sid
    assert names.pool_id("pools/a-1") == names.pool_id("a-1") == "a-1"
    assert names.interaction_name(sid, "x") == f"sessions/{sid}/interactions/x"
    for bad in ("pools/", "pools/UP", "a b", "x" * 64):
        with pytest.raises(InvalidArgument):
            names.pool_id(bad)
    with pytest.raises(InvalidArgument) as invalid:
        names.session_id("pools/abc")
    assert invalid.value.reason == "INVALID_NAME"


def test_page_sizes() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(5000) == 1000
    with pytest.raises(InvalidArgument) as negative:
        page_size(-1)
    assert negative.value.reason == "INVALID_PAGE_SIZE"


def test_tokens_round_trip_and_are_bound_to_their_query() -> None:
    token = encode_token([123, "abc"], ["sessions", "+1555"])
    assert decode_token(token, ["sessions", "+1555"]) == [123, "abc"]
    assert decode_token("", ["anything"]) is None
    for bad_token, scope in ((token, ["sessions", "+1666"]), ("%%%", ["x"]), ("e30", ["x"])):
        with pytest.raises(InvalidArgument) as invalid:
            decode_token(bad_token, scope)
        assert invalid.value.reason == "INVALID_PAGE_TOKEN"


def test_paginate_uses_the_extra_row_to_decide_on_a_next_page() -> None:
    last = paginate([1, 2], 2, lambda n: [n], ["s"])
    assert (last.items, last.next_page_token) == ([1, 2], "")
    more = paginate([1, 2, 3], 2, lambda n: [n], ["s"])
    assert more.items == [1, 2]
    assert decode_token(more.next_page_token, ["s"]) == [2]
