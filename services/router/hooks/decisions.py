"""What a hook decided for one message: read from the app's answer, stored as JSON in
hook_decision (store/models.py), attached to the message when it goes through the pipeline
again.

An answer the router cannot apply (no action, an empty or oversized text) is the hook's
failure like a timeout: the pool's failure mode is decided instead (``failed``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from numproxy.router.sessions.pool_settings import MAX_REPLY_TEXT
from numproxy.router.store.states import HookAction, HookFailureMode, HookKind
from numproxy.v1 import hook_pb2

# Texts a hook hands the router (a reply, a rewritten text): at most what a pool's reply may be.
MAX_TEXT = MAX_REPLY_TEXT


# request_id of the sessions hooks open: the prefix, then a hash of the message's key.
SESSION_REQUEST_PREFIX = "hook-"


def session_request_id(message_key: str) -> str:
    """The CreateSession request_id of the session a hook opens for a message: a retry finds
    that session instead of opening a second one, and the pipeline knows the message opened
    it (stage.py)."""
    return SESSION_REQUEST_PREFIX + hashlib.sha256(message_key.encode()).hexdigest()[:40]


class BadAnswer(Exception):
    """The hook answered something the router cannot apply."""


@dataclass(frozen=True, slots=True)
class Decision:
    kind: HookKind
    action: HookAction
    # REPLY: the reply; BLOCK: the reply to the sender ("" none); REWRITE: the text forwarded.
    text: str = ""
    # FAIL_OPEN / FAIL_CLOSED: why the hook failed; CREATE_SESSION: why no session was opened.
    reason: str = ""
    # CREATE_SESSION: the session opened, once it was.
    session_id: str = ""
    # CREATE_SESSION: what to open (participants, ttl_ms, metadata, pool, close_notice).
    create: dict[str, Any] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Nothing left to do outside the pipeline (a CREATE_SESSION is settled once the
        session was opened or refused)."""
        return self.action is not HookAction.CREATE_SESSION or bool(self.session_id or self.reason)

    @property
    def note(self) -> str:
        """How the decision reads in the inbound interaction's note."""
        if self.action in (HookAction.FAIL_OPEN, HookAction.FAIL_CLOSED):
            return f"hook failed ({self.reason}): {self.action.value}"
        return f"hook: {self.action.value.lower().replace('_', ' ')}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action.value}
        for name in ("text", "reason", "session_id"):
            if value := getattr(self, name):
                data[name] = value
        if self.create:
            data["create"] = self.create
        return data

    @classmethod
    def from_json(cls, kind: str, data: dict[str, Any]) -> Decision:
        return cls(
            HookKind(kind),
            HookAction(data["action"]),
            text=str(data.get("text", "")),
            reason=str(data.get("reason", "")),
            session_id=str(data.get("session_id", "")),
            create=dict(data.get("create", {})),
        )


def failed(kind: HookKind, mode: str, reason: str) -> Decision:
    """The pool's failure mode, decided because the hook failed for ``reason``."""
    action = HookAction.FAIL_CLOSED if mode == HookFailureMode.FAIL_CLOSED else HookAction.FAIL_OPEN
    return Decision(kind, action, reason=reason)


def of_resolve(answer: hook_pb2.ResolveOutOfSessionResponse) -> Decision:
    kind = HookKind.RESOLVE_OUT_OF_SESSION
    action = answer.WhichOneof("action")
    if action == "drop":
        return Decision(kind, HookAction.DROP)
    if action == "reply":
        return Decision(kind, HookAction.REPLY, text=_text(answer.reply.text, "reply.text"))
    if action == "create_session":
        create = answer.create_session
        spec: dict[str, Any] = {
            "participants": [
                {"number": p.number, "display_name": p.display_name, "greeting": p.greeting}
                for p in create.participants
            ],
            "metadata": dict(create.metadata),
            "pool": create.pool,
            "close_notice": create.close_notice,
        }
        if create.HasField("ttl"):
            spec["ttl_ms"] = create.ttl.ToMilliseconds()
        return Decision(kind, HookAction.CREATE_SESSION, create=spec)
    raise BadAnswer("no action")


def of_intercept(answer: hook_pb2.InterceptMessageResponse) -> Decision:
    kind = HookKind.INTERCEPT_MESSAGE
    action = answer.WhichOneof("action")
    if action == "allow":
        return Decision(kind, HookAction.ALLOW)
    if action == "block":
        reply = answer.block.reply_text
        text = _text(reply, "block.reply_text") if reply else ""
        return Decision(kind, HookAction.BLOCK, text=text)
    if action == "rewrite":
        return Decision(kind, HookAction.REWRITE, text=_text(answer.rewrite.text, "rewrite.text"))
    raise BadAnswer("no action")


def _text(value: str, name: str) -> str:
    if not value.strip():
        raise BadAnswer(f"{name} is empty")
    if len(value) > MAX_TEXT:
        raise BadAnswer(f"{name} is longer than {MAX_TEXT} characters")
    return value
