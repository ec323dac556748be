"""Console settings: NUMPROXY_CONSOLE_* environment variables.

Authentication is one of: an identity header set by trusted auth proxies (``AUTH_HEADER`` +
``TRUSTED_PROXIES``), logins from ``USERS`` (password hashes, e.g. from a Kubernetes Secret),
or both. Neither is refused at start-up unless ``LOCAL_DEV`` is set (loopback only).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from numproxy.common.settings import ServiceSettings, service_config
from numproxy.common.tls import TlsSettings

Role = Literal["viewer", "operator", "admin"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ConsoleSettings(ServiceSettings, TlsSettings):
    model_config = service_config("console")

    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(8070, ge=0, le=65535, description="HTTP port")
    router_address: str = Field("127.0.0.1:50051", description="host:port of the router")
    router_timeout: float = Field(5.0, gt=0, description="deadline of one router call, seconds")
    auth_header: str = Field(
        "",
        max_length=64,
        description="request header carrying the user name set by the cluster's auth proxy "
        "(e.g. X-Forwarded-User); empty = no header authentication",
    )
    trusted_proxies: list[str] = Field(
        [],
        description="addresses or CIDRs of the auth proxies whose identity header is believed; "
        "JSON list",
    )
    header_roles: dict[str, Role] = Field(
        {},
        description="role of each header-authenticated user (viewer, operator, admin); JSON object",
    )
    header_default_role: Role = Field(
        "viewer", description="role of a header-authenticated user not in header_roles"
    )
    users: SecretStr = Field(
        SecretStr(""),
        description="login accounts, one `name:role:hash` per line or comma (hash from "
        "`numproxy console hash-password`); empty = no login form",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="key signing session and CSRF cookies (32+ characters; the same on every "
        "replica); required unless local_dev",
    )
    local_dev: bool = Field(
        False,
        description="no authentication, everyone is admin; only with a loopback host (numproxy "
        "dev)",
    )
    cookie_secure: bool = Field(
        True, description="mark cookies Secure (HTTPS only); off for plain-HTTP local use"
    )
    session_max_age: int = Field(
        8 * 3600, ge=60, le=7 * 86400, description="seconds a login stays valid"
    )
    text_roles: list[Role] = Field(
        default=["admin"],
        description="roles that may read message text (others see its length); JSON list",
    )
    action_roles: list[Role] = Field(
        default=["operator", "admin"],
        description="roles that may close sessions, send system messages and drain numbers; "
        "JSON list",
    )
    audit_file: str = Field(
        "",
        description="JSON-lines file every action is appended to (besides the audit log line); "
        "empty = log only",
    )
    page_size: int = Field(25, ge=1, le=200, description="sessions per page")
    headroom_scan_limit: int = Field(
        5000,
        ge=100,
        le=100_000,
        description="active sessions read per pool to compute headroom (beyond: shown as an "
        "estimate)",
    )
    max_streams: int = Field(
        100, ge=1, le=10_000, description="live (server-sent events) streams open at once"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _authentication(self) -> ConsoleSettings:
        if self.local_dev:
            if self.host not in LOOPBACK_HOSTS:
                raise ValueError("local_dev needs a loopback host (127.0.0.1, ::1, localhost)")
            return self
        header = bool(self.auth_header and self.trusted_proxies)
        if self.auth_header and not self.trusted_proxies:
            raise ValueError("auth_header needs trusted_proxies (the auth proxies' addresses)")
        if not header and not self.users.get_secret_value().strip():
            raise ValueError(
                "no authentication configured: set auth_header + trusted_proxies, or users "
                "(or local_dev for a loopback-only local run)"
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("secret_key must be set (32+ characters) unless local_dev")
        return self
