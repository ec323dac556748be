"""Who is asking: the trusted auth proxy's header, a login cookie, or local-dev mode.

The console cookie is signed (itsdangerous) and holds the CSRF token and, after a login, the
user and role. A header identity is believed only from the configured proxy addresses.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from numproxy.console.passwords import Account, hash_password, parse_accounts, verify_password
from numproxy.console.settings import ConsoleSettings, Role

COOKIE = "numproxy_console"
_HEADER_USER = re.compile(r"^[\w.@+-]{1,128}$")


@dataclass(frozen=True)
class Identity:
    user: str
    role: Role
    via: str  # "header", "login" or "local-dev"


@dataclass(frozen=True)
class CookieState:
    """What the signed cookie carries: always a CSRF token, a login when there is one."""

    csrf: str
    user: str = ""
    role: str = ""

    @staticmethod
    def fresh(user: str = "", role: str = "") -> CookieState:
        return CookieState(secrets.token_urlsafe(32), user, role)


class Authenticator:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        key = settings.secret_key.get_secret_value() or secrets.token_urlsafe(32)
        self._serializer = URLSafeTimedSerializer(key, salt="numproxy-console")
        self._accounts: dict[str, Account] = parse_accounts(settings.users.get_secret_value())
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self._header = settings.auth_header.lower()
        self._dummy: str | None = None

    @property
    def login_enabled(self) -> bool:
        return bool(self._accounts)

    # the cookie ------------------------------------------------------------------------

    def read_cookie(self, request: Request) -> CookieState | None:
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=self.settings.session_max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        return CookieState(data["c"], str(data.get("u", "")), str(data.get("r", "")))

    def dump_cookie(self, state: CookieState) -> str:
        return self._serializer.dumps({"c": state.csrf, "u": state.user, "r": state.role})

    # identities ------------------------------------------------------------------------

    def identify(self, request: Request, cookie: CookieState | None) -> Identity | None:
        if self.settings.local_dev:
            return Identity("local-dev", "admin", "local-dev")
        header = self._header_identity(request)
        if header is not None:
            return header
        if cookie is not None and cookie.user and cookie.user in self._accounts:
            # The role comes from the current account list, not the cookie: a demoted or
            # removed account loses its rights at once.
            return Identity(cookie.user, self._accounts[cookie.user].role, "login")
        return None

    def _header_identity(self, request: Request) -> Identity | None:
        if not self._header or request.client is None:
            return None
        try:
            peer = ipaddress.ip_address(request.client.host)
        except ValueError:
            return None
        if not any(peer in network for network in self._proxies):
            return None  # a header from anyone else is ignored, never believed
        user = request.headers.get(self._header, "")
        if not _HEADER_USER.match(user):
            return None
        role = self.settings.header_roles.get(user, self.settings.header_default_role)
        return Identity(user, role, "header")

    def check_login(self, user: str, password: str) -> Account | None:
        account = self._accounts.get(user)
        # An unknown user costs the same hashing as a known one: no user enumeration by timing.
        encoded = account.password_hash if account is not None else self._dummy_hash
        if not verify_password(password, encoded) or account is None:
            return None
        return account

    @property
    def _dummy_hash(self) -> str:
        if self._dummy is None:
            first = next(iter(self._accounts.values()), None)
            iterations = int(first.password_hash.split("$")[1]) if first else 1
            self._dummy = hash_password(secrets.token_urlsafe(16), iterations=iterations)
        return self._dummy
