"""Login passwords: PBKDF2-SHA256 hashes (``pbkdf2_sha256$ITERATIONS$SALT$HASH``) and the
``name:role:hash`` account list the console reads from its settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import cast, get_args

from numproxy.console.settings import Role

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
MAX_PASSWORD_LENGTH = 1024
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_ROLES = frozenset(get_args(Role))


class AccountError(ValueError):
    """A malformed account entry (the message never contains a hash)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        algorithm, iterations, salt, expected = encoded.split("$")
        if algorithm != ALGORITHM:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except ValueError:
        return False


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password_hash: str


def parse_accounts(text: str) -> dict[str, Account]:
    """``name:role:hash`` entries separated by newlines or commas."""
    accounts: dict[str, Account] = {}
    for number, entry in enumerate(re.split(r"[\n,]", text), start=1):
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3:
            raise AccountError(f"account entry {number} is not name:role:hash")
        name, role, password_hash = parts
        if not _NAME.match(name):
            raise AccountError(f"account entry {number}: bad user name")
        if role not in _ROLES:
            raise AccountError(f"account entry {number}: role must be one of {sorted(_ROLES)}")
        if not password_hash.startswith(f"{ALGORITHM}$"):
            raise AccountError(f"account entry {number}: the hash must be {ALGORITHM}")
        accounts[name] = Account(name, cast(Role, role), password_hash)
    return accounts
