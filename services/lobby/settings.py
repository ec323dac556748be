"""Lobby settings: NUMPROXY_LOBBY_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from numproxy.common.settings import ServiceSettings, service_config
from numproxy.common.tls import ServerAuthSettings, TlsSettings


class LobbySettings(ServiceSettings, TlsSettings, ServerAuthSettings):
    model_config = service_config("lobby")

    host: str = Field("0.0.0.0", description="address the gRPC server (HookService) binds")
    port: int = Field(50061, ge=0, le=65535, description="gRPC port (0 = any free port)")
    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///lobby.db"),
        description="the lobby's own database (waiting queue, pairings): "
        "sqlite+aiosqlite:///FILE or postgresql+asyncpg://...",
    )
    router_address: str = Field("127.0.0.1:50051", description="host:port of the router")
    router_timeout: float = Field(2.0, gt=0, description="deadline of one router call, seconds")
    lobby_pool: str = Field(
        "lobby", description="pool whose out-of-session texts the lobby answers"
    )
    chat_pool: str = Field("chat", description="pool the chats are opened in")
    chat_ttl: float = Field(
        3600.0, ge=0, description="idle TTL of a chat, seconds (0 = the pool's default)"
    )
    help_interval: float = Field(
        300.0, ge=0, description="seconds between two help replies to one number"
    )
    pairing_grace: float = Field(
        30.0,
        gt=0,
        description="seconds a new pairing counts as a live chat before the router shows it",
    )
    end_command: str = Field(
        "#end", description="the chat pool's end command (also leaves the queue)"
    )
    waiting_text: str = Field("Waiting for another user…", description="reply to a queued email")
    connected_text: str = Field(
        "Connected — reply here to chat, send #end to stop.",
        description="greeting both sides of a new chat get from their proxy numbers",
    )
    goodbye_text: str = Field(
        "The chat has ended. Text your email address to the lobby number to chat again.",
        description="close notice of the chat pool (sent to both sides)",
    )
    help_text: str = Field(
        "Text your email address to this number to be paired for a chat.",
        description="reply to a text that is not an email address (rate limited)",
    )
    in_chat_text: str = Field(
        "You are already in a chat; send #end there to stop it.",
        description="reply when someone already in a chat texts the lobby",
    )
    left_text: str = Field(
        "You left the queue.", description="reply to the end command in the queue"
    )
