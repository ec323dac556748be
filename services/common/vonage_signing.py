"""Vonage request signing, shared by the gateway (verifies webhooks), the sender (signs API
requests) and the simulator (signs webhooks, verifies API requests).

SMS-API signatures: take every parameter except ``sig``, sort by key, replace
``&`` and ``=`` in each value with ``_``, build ``&k1=v1&k2=v2``; md5hash appends the secret
and hashes, the HMAC methods key the HMAC with the secret. Compared case-insensitively in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
METHODS: tuple[SignatureMethod, ...] = ("md5hash", "md5", "sha1", "sha256", "sha512")


def signing_base(params: Mapping[str, str]) -> str:
    """The string a signature is computed over: ``&k1=v1&k2=v2`` of the sorted params."""
    parts = []
    for key in sorted(params):
        if key == "sig":
            continue
        value = params[key].replace("&", "_").replace("=", "_")
        parts.append(f"&{key}={value}")
    return "".join(parts)


def sign(params: Mapping[str, str], secret: str, method: SignatureMethod) -> str:
    """The ``sig`` Vonage would compute for ``params`` (md5hash lower-case, HMACs upper-case)."""
    base = signing_base(params)
    if method == "md5hash":
        return hashlib.md5((base + secret).encode()).hexdigest()
    digest = hmac.new(secret.encode(), base.encode(), method).hexdigest()
    return digest.upper()


def verify(params: Mapping[str, str], secret: str, method: SignatureMethod) -> bool:
    """True when ``params["sig"]`` is the signature of the other params.

    Accepts either reading of empty values (signed with them, or with them left out), since
    SDKs differ and Vonage's own behaviour is unverified.
    """
    received = params.get("sig", "")
    if not received:
        return False
    candidates = [dict(params)]
    non_empty = {k: v for k, v in params.items() if v != ""}
    if len(non_empty) != len(params):
        candidates.append(non_empty)
    ok = False
    for candidate in candidates:
        expected = sign(candidate, secret, method)
        # Evaluate every candidate so timing doesn't depend on which one matched.
        ok |= hmac.compare_digest(expected.lower(), received.lower())
    return ok
