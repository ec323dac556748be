"""Reading a webhook's parameters from any of the SMS API's three transports.

GET carries them in the query string, POST as a form or as a JSON object of strings. The
result is one flat ``dict[str, str]``: what the signature is computed over and what the
parsers read.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request

from numproxy.gateway.errors import WebhookError, bad_request

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_V = TypeVar("_V")

# What a body may say it is written in (Vonage sends UTF-8). Other codecs are refused rather
# than trusted to fail cleanly on hostile bytes.
CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})
# Arrays and objects inside one another at most: Vonage's deepest is 2 (Messages API `usage`).
MAX_JSON_DEPTH = 8
# A JSON string (skipped whole; possessive, and an unterminated one runs to the end, so the
# scan stays linear) or one bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]')


def media_type(request: Request) -> tuple[str, str]:
    """The request's media type (lower-case, no parameters) and its charset (default utf-8)."""
    header = request.headers.get("content-type", "")
    kind, _, rest = header.partition(";")
    charset = "utf-8"
    for param in rest.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"').lower()
    return kind.strip().lower(), charset


def require_media_type(request: Request, *allowed: str) -> tuple[str, str]:
    """``media_type(request)``, or a 415 WebhookError when it is not one of ``allowed``."""
    kind, charset = media_type(request)
    if kind not in allowed:
        raise WebhookError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type must be {' or '.join(allowed)}, got {kind[:40] or 'none'!r}",
        )
    if charset not in CHARSETS:
        raise WebhookError(
            415,
            "UNSUPPORTED_CHARSET",
            f"charset must be utf-8 (or ascii, iso-8859-1), got {charset[:40]!r}",
        )
    return kind, charset


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing (413) to buffer more than ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise WebhookError(413, "BODY_TOO_LARGE", f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request, max_bytes: int) -> dict[str, str]:
    """Every parameter of an SMS-API webhook, whatever its transport.

    A POST's query string is ignored: nothing in it is used, so nothing in it needs signing.
    """
    if request.method == "GET":
        raw: bytes = request.scope.get("query_string", b"")
        if len(raw) > max_bytes:
            raise WebhookError(414, "QUERY_TOO_LONG", f"query string exceeds {max_bytes} bytes")
        return parse_urlencoded(raw.decode("latin-1"), "utf-8", source="query string")
    kind, charset = require_media_type(request, FORM, JSON)
    body = await read_body(request, max_bytes)
    if kind == FORM:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            raise bad_request("INVALID_BODY", "form body must be percent-encoded ASCII") from None
        return parse_urlencoded(text, charset, source="form body")
    return parse_json_params(body)


def parse_urlencoded(text: str, charset: str, *, source: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
    except (UnicodeError, LookupError):
        raise bad_request("INVALID_BODY", f"{source} is not valid {charset}") from None
    return _unique(pairs, source)


def parse_json_params(body: bytes) -> dict[str, str]:
    document = load_json_object(body)
    params: dict[str, str] = {}
    for key, value in document.items():
        # Vonage sends every value as a string; tolerate bare numbers, never nested values,
        # whose string form would be ambiguous to sign.
        if isinstance(value, str):
            params[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            params[key] = json.dumps(value)
        else:
            raise bad_request("INVALID_PARAMETER", f"{key} must be a string")
    return params


def load_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object, with repeated keys refused rather than silently collapsed."""

    def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return _unique(pairs, "JSON body")

    _check_depth(body)
    try:
        document = json.loads(body, object_pairs_hook=unique_pairs)
    except (UnicodeDecodeError, ValueError):
        raise bad_request("INVALID_BODY", "body is not valid JSON") from None
    if not isinstance(document, dict):
        raise bad_request("INVALID_BODY", "JSON body must be an object")
    try:
        # \ud800-style escapes decode to lone surrogates, which no later step can encode.
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise bad_request("INVALID_BODY", "JSON body contains invalid unicode escapes") from None
    return document


def _check_depth(body: bytes) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH before parsing (the parser recurses)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise bad_request(
                    "JSON_TOO_DEEP", f"JSON body nests deeper than {MAX_JSON_DEPTH} levels"
                )
        elif bracket in (b"]", b"}"):
            depth -= 1


def _unique(pairs: list[tuple[str, _V]], source: str) -> dict[str, _V]:
    # A repeated key would let the signed value and the routed value differ.
    params: dict[str, _V] = {}
    for key, value in pairs:
        if key in params:
            raise bad_request("DUPLICATE_PARAMETER", f"{key} appears more than once in {source}")
        params[key] = value
    return params
