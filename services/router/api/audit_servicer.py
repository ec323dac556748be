"""numproxy.v1.AuditService: proto <-> the audit trail (audit/trail.py)."""

from __future__ import annotations

from datetime import datetime

from numproxy.common.errors import Context, InvalidArgument
from numproxy.router.api import convert
from numproxy.router.api.access import allowed_pools, check_pool
from numproxy.router.audit.trail import AuditQuery, AuditTrail
from numproxy.router.sessions import names
from numproxy.router.store.audit import StoredEntry
from numproxy.v1 import audit_pb2, audit_pb2_grpc


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """A pool-limited reader sees only entries of its pools."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    async def ListAuditEntries(
        self, request: audit_pb2.ListAuditEntriesRequest, context: Context
    ) -> audit_pb2.ListAuditEntriesResponse:
        if request.pool:
            check_pool(request.pool)
        query = AuditQuery(
            caller=request.caller,
            method=request.method,
            session=request.session,
            pool=request.pool,
            start=_time(request, "start_time"),
            end=_time(request, "end_time"),
        )
        page = await self._trail.list_entries(
            query, request.page_size, request.page_token, within=allowed_pools()
        )
        return audit_pb2.ListAuditEntriesResponse(
            entries=[entry_message(e) for e in page.items],
            next_page_token=page.next_page_token,
        )


def _time(request: audit_pb2.ListAuditEntriesRequest, field: str) -> datetime | None:
    try:
        return convert.optional_datetime(request, field)
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"{field} is out of range", reason="INVALID_TIME_RANGE", metadata={"field": field}
        ) from None


def entry_message(entry: StoredEntry) -> audit_pb2.AuditEntry:
    return audit_pb2.AuditEntry(
        id=entry.id,
        create_time=convert.timestamp(entry.created_at),
        caller=entry.caller,
        method=entry.method,
        session=names.session_name(entry.session_id) if entry.session_id else "",
        pool=names.pool_name(entry.pool) if entry.pool else "",
        code=entry.code,
        reason=entry.reason,
    )
