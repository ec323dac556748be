"""Reading webhook parameters from query strings, forms and JSON."""

from __future__ import annotations

import time

import pytest
from starlette.requests import Request

from numproxy.gateway.errors import WebhookError
from numproxy.gateway.params import media_type, parse_json_params, parse_urlencoded


def test_plus_and_percent_escapes_decode_to_text() -> None:
    params = parse_urlencoded(
        "text=Hello+world%21&message-timestamp=2017-05-01+21%3A52%3A49&x=%C3%BC",
        "utf-8",
        source="q",
    )
    assert params == {"text": "Hello world!", "message-timestamp": "2017-05-01 21:52:49", "x": "ü"}


def test_empty_values_are_kept() -> None:
    assert parse_urlencoded("a=&b=1&c", "utf-8", source="q") == {"a": "", "b": "1", "c": ""}


def test_latin1_charset_is_honoured() -> None:
    assert parse_urlencoded("text=Gr%FC%DFe", "iso-8859-1", source="form body") == {"text": "Grüße"}


@pytest.mark.parametrize(
    ("text", "charset", "code"),
    [
        ("a=1&a=2", "utf-8", "DUPLICATE_PARAMETER"),
        ("text=%FF", "utf-8", "INVALID_BODY"),
        ("text=%41", "no-such-charset", "INVALID_BODY"),
    ],
)
def test_bad_urlencoded_is_400(text: str, charset: str, code: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_urlencoded(text, charset, source="form body")
    assert (caught.value.status, caught.value.code) == (400, code)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert parse_json_params(b'{"text": "[[[[[[[[[[{{{{{{{{{{ \\" [[[[["}') == {
        "text": '[[[[[[[[[[{{{{{{{{{{ " [[[[['
    }


def test_json_depth_scan_is_linear_on_unterminated_escapes() -> None:
    # Every quote escaped: a backtracking string pattern takes seconds here, a linear one
    # milliseconds.
    started = time.perf_counter()
    with pytest.raises(WebhookError):
        parse_json_params(b'{"a": "' + b'\\"' * 30_000)
    assert time.perf_counter() - started < 2.0


def test_json_values_are_strings() -> None:
    assert parse_json_params(b'{"a": "1", "b": 2, "c": 1.5, "d": ""}') == {
        "a": "1",
        "b": "2",
        "c": "1.5",
        "d": "",
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"a": true}', "INVALID_PARAMETER"),
        (b'{"a": null}', "INVALID_PARAMETER"),
        (b'{"a": ["x"]}', "INVALID_PARAMETER"),
        (b'{"a": "1", "a": "2"}', "DUPLICATE_PARAMETER"),
        (b'"text"', "INVALID_BODY"),
        (b"\xff", "INVALID_BODY"),
        (b"", "INVALID_BODY"),
        (b'{"a": "\\ud800"}', "INVALID_BODY"),
        (b"[" * 100_000, "JSON_TOO_DEEP"),
        (b'{"a": ' + b'{"b": ' * 8 + b"1" + b"}" * 9, "JSON_TOO_DEEP"),
    ],
)
def test_bad_json_is_400(body: bytes, code: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_json_params(body)
    assert (caught.value.status, caught.value.code) == (400, code)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "application/x-www-form-urlencoded; charset=UTF-8",
            ("application/x-www-form-urlencoded", "utf-8"),
        ),
        ("Application/JSON", ("application/json", "utf-8")),
        ('application/json; charset="ISO-8859-1"', ("application/json", "iso-8859-1")),
        (None, ("", "utf-8")),
    ],
)
def test_media_type(header: str | None, expected: tuple[str, str]) -> None:
    headers = [(b"content-type", header.encode())] if header else []
    request = Request({"type": "http", "method": "POST", "headers": headers})
    assert media_type(request) == expected
