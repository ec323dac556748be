"""What each RPC needs: the one table of scopes per method, for every numproxy gRPC server.

A method missing from ``RULES`` is refused to everyone (fail closed); a test checks that every
method of every service numproxy serves is listed. ``audited`` calls are written to the audit
trail when allowed (refused calls always are): those that change state or return message
text. The gateway's inbound traffic and the router's sends are the message flow itself
(recorded as interactions and outbox rows), not audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    INBOUND = "inbound"
    SMS_SEND = "sms:send"
    SESSIONS_READ = "sessions:read"
    SESSIONS_WRITE = "sessions:write"
    INTERACTIONS_READ = "interactions:read"
    POOLS_READ = "pools:read"
    POOLS_ADMIN = "pools:admin"
    EVENTS_READ = "events:read"
    AUDIT_READ = "audit:read"


@dataclass(frozen=True)
class Rule:
    """Any one of ``scopes`` allows the call; ``public`` methods need no caller at all."""

    scopes: frozenset[Scope] = frozenset()
    audited: bool = False
    public: bool = False


def _needs(*scopes: Scope, audited: bool = False) -> Rule:
    return Rule(frozenset(scopes), audited=audited)


_PUBLIC = Rule(public=True)
_SESSIONS = "/numproxy.v1.SessionService/"
_POOLS = "/numproxy.v1.PoolService/"
_EVENTS = "/numproxy.v1.EventService/"
_INBOUND = "/numproxy.internal.v1.InboundService/"
_SENDER = "/numproxy.internal.v1.SenderService/"
_WRITE_SESSIONS = _needs(Scope.SESSIONS_WRITE, audited=True)
_READ_SESSIONS = _needs(Scope.SESSIONS_READ)
_ADMIN_POOLS = _needs(Scope.POOLS_ADMIN, audited=True)
# Reading pools (settings, numbers, usage) is part of administering them.
_READ_POOLS = _needs(Scope.POOLS_READ, Scope.POOLS_ADMIN)

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        # Probes (the kubelet's grpc probe carries no identity) and, when turned on, reflection.
        "/grpc.health.v1.Health/Check": _PUBLIC,
        "/grpc.health.v1.Health/Watch": _PUBLIC,
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": _PUBLIC,
        _INBOUND + "ReceiveSms": _needs(Scope.INBOUND),
        _INBOUND + "ReceiveSmsBatch": _needs(Scope.INBOUND),
        _INBOUND + "ReceiveDeliveryReceipt": _needs(Scope.INBOUND),
        _SENDER + "SendSms": _needs(Scope.SMS_SEND),
        _SENDER + "SendSmsBatch": _needs(Scope.SMS_SEND),
        _SESSIONS + "CreateSession": _WRITE_SESSIONS,
        _SESSIONS + "UpdateSession": _WRITE_SESSIONS,
        _SESSIONS + "DeleteSession": _WRITE_SESSIONS,
        _SESSIONS + "SendMessage": _WRITE_SESSIONS,
        _SESSIONS + "AddParticipant": _WRITE_SESSIONS,
        _SESSIONS + "RemoveParticipant": _WRITE_SESSIONS,
        _SESSIONS + "GetSession": _READ_SESSIONS,
        _SESSIONS + "ListSessions": _READ_SESSIONS,
        _SESSIONS + "ListInteractions": _needs(Scope.INTERACTIONS_READ, audited=True),
        _POOLS + "CreatePool": _ADMIN_POOLS,
        _POOLS + "UpdatePool": _ADMIN_POOLS,
        _POOLS + "AddNumbers": _ADMIN_POOLS,
        _POOLS + "RemoveNumber": _ADMIN_POOLS,
        _POOLS + "GetPool": _READ_POOLS,
        _POOLS + "ListPools": _READ_POOLS,
        _POOLS + "ListNumbers": _READ_POOLS,
        # Events carry numbers and states, never message text.
        _EVENTS + "WatchEvents": _needs(Scope.EVENTS_READ),
        _EVENTS + "ListEvents": _needs(Scope.EVENTS_READ),
        "/numproxy.v1.AuditService/ListAuditEntries": _needs(Scope.AUDIT_READ),
    }
)
