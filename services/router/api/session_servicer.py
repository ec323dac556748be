"""numproxy.v1.SessionService: proto <-> sessions domain."""

from __future__ import annotations

from numproxy.common.errors import Context
from numproxy.router.api import convert
from numproxy.router.api.access import SessionAccess, allowed_pools, check_pool
from numproxy.router.sessions.membership import Membership
from numproxy.router.sessions.messaging import SessionMessaging
from numproxy.router.sessions.names import DEFAULT_POOL
from numproxy.router.sessions.sessions import ParticipantSpec, Sessions, SessionSpec
from numproxy.v1 import session_pb2, session_pb2_grpc


def _participant(spec: session_pb2.ParticipantSpec) -> ParticipantSpec:
    return ParticipantSpec(spec.number, spec.display_name, spec.greeting)


class SessionServicer(session_pb2_grpc.SessionServiceServicer):
    """Each call naming a session checks it against the caller's pool limit first."""

    def __init__(
        self,
        sessions: Sessions,
        messaging: SessionMessaging,
        membership: Membership,
        access: SessionAccess,
    ) -> None:
        self._sessions = sessions
        self._messaging = messaging
        self._membership = membership
        self._access = access

    async def CreateSession(
        self, request: session_pb2.CreateSessionRequest, context: Context
    ) -> session_pb2.CreateSessionResponse:
        check_pool(request.pool or DEFAULT_POOL)
        spec = SessionSpec(
            participants=[_participant(p) for p in request.participants],
            pool=request.pool,
            ttl=convert.optional_timedelta(request, "ttl"),
            expire_time=convert.optional_datetime(request, "expire_time"),
            metadata=dict(request.metadata),
            request_id=request.request_id,
            close_notice=request.close_notice,
        )
        session = await self._sessions.create_session(spec)
        return session_pb2.CreateSessionResponse(session=convert.session_message(session))

    async def GetSession(
        self, request: session_pb2.GetSessionRequest, context: Context
    ) -> session_pb2.GetSessionResponse:
        await self._access.check(request.name)
        session = await self._sessions.get_session(request.name)
        return session_pb2.GetSessionResponse(session=convert.session_message(session))

    async def ListSessions(
        self, request: session_pb2.ListSessionsRequest, context: Context
    ) -> session_pb2.ListSessionsResponse:
        if request.pool:
            check_pool(request.pool)
        page = await self._sessions.list_sessions(
            size=request.page_size,
            token=request.page_token,
            participant_number=request.participant_number,
            status=convert.session_status_name(request.status),
            pool=request.pool,
            request_id=request.request_id,
            metadata=dict(request.metadata),
            within=allowed_pools(),
        )
        return session_pb2.ListSessionsResponse(
            sessions=[convert.session_message(s) for s in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateSession(
        self, request: session_pb2.UpdateSessionRequest, context: Context
    ) -> session_pb2.UpdateSessionResponse:
        await self._access.check(request.session.name, field="session.name")
        session = await self._sessions.update_session(
            request.session.name,
            list(request.update_mask.paths),
            ttl=convert.optional_timedelta(request.session, "ttl"),
            expire_time=convert.optional_datetime(request.session, "expire_time"),
            status=convert.session_status_name(request.session.status),
        )
        return session_pb2.UpdateSessionResponse(session=convert.session_message(session))

    async def DeleteSession(
        self, request: session_pb2.DeleteSessionRequest, context: Context
    ) -> session_pb2.DeleteSessionResponse:
        await self._access.check(request.name)
        await self._sessions.delete_session(request.name)
        return session_pb2.DeleteSessionResponse()

    async def ListInteractions(
        self, request: session_pb2.ListInteractionsRequest, context: Context
    ) -> session_pb2.ListInteractionsResponse:
        await self._access.check(request.parent, field="parent")
        page = await self._sessions.list_interactions(
            request.parent, request.page_size, request.page_token
        )
        return session_pb2.ListInteractionsResponse(
            interactions=[convert.interaction_message(i) for i in page.items],
            next_page_token=page.next_page_token,
        )

    async def SendMessage(
        self, request: session_pb2.SendMessageRequest, context: Context
    ) -> session_pb2.SendMessageResponse:
        await self._access.check(request.session, field="session")
        interaction = await self._messaging.send_message(
            request.session, request.to, request.text, request_id=request.request_id
        )
        return session_pb2.SendMessageResponse(interaction=convert.interaction_message(interaction))

    async def AddParticipant(
        self, request: session_pb2.AddParticipantRequest, context: Context
    ) -> session_pb2.AddParticipantResponse:
        await self._access.check(request.session, field="session")
        session = await self._membership.add_participant(
            request.session, _participant(request.participant)
        )
        return session_pb2.AddParticipantResponse(session=convert.session_message(session))

    async def RemoveParticipant(
        self, request: session_pb2.RemoveParticipantRequest, context: Context
    ) -> session_pb2.RemoveParticipantResponse:
        await self._access.check(request.session, field="session")
        session = await self._membership.remove_participant(request.session, request.number)
        return session_pb2.RemoveParticipantResponse(session=convert.session_message(session))
