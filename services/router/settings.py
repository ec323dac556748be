"""Router settings: NUMPROXY_ROUTER_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from numproxy.common.authorization import Callers
from numproxy.common.call_errors import MAX_BATCH_ITEMS
from numproxy.common.settings import GrpcServiceSettings, service_config
from numproxy.common.tls import ServerAuthSettings, TlsSettings


class RouterSettings(GrpcServiceSettings, TlsSettings, ServerAuthSettings):
    model_config = service_config("router")

    host: str = Field("0.0.0.0", description="address the gRPC server binds")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 = any free port)")
    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///numproxy.db"),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://...",
    )
    sender_address: str = Field("127.0.0.1:50052", description="host:port of the sender")
    send_timeout: float = Field(
        10.0, gt=0, description="deadline of one call to the sender, seconds"
    )
    sweep_interval: float = Field(
        30.0, gt=0, description="seconds between sweeps that close expired sessions"
    )
    dispatch_interval: float = Field(
        1.0, gt=0, description="seconds between outbox polls (retries and crash recovery)"
    )

    # Inbound routing (inbound.py, multipart.py, keywords.py).
    multipart_timeout: float = Field(
        60.0,
        gt=0,
        description="seconds to wait for the missing parts of a multipart SMS before the parts "
        "that arrived are routed on their own",
    )
    dedupe_retention: float = Field(
        48 * 3600.0,
        gt=0,
        description="seconds provider message ids are kept to absorb webhook retries",
    )
    housekeeping_interval: float = Field(
        5.0,
        gt=0,
        description="seconds between runs of the task that routes timed-out multipart messages "
        "and purges old dedupe records and events",
    )
    event_retention: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="seconds events are kept for WatchEvents and ListEvents; older ones are "
        "pruned by housekeeping (a cursor older than what was pruned gets CURSOR_EXPIRED)",
    )
    event_poll_interval: float = Field(
        0.2,
        gt=0,
        description="seconds between checks for events committed by other router replicas, "
        "while a WatchEvents stream is open (this process's own commits wake watchers at once)",
    )
    stop_keywords: tuple[str, ...] = Field(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"),
        description="messages (whole, trimmed, case-insensitive) that opt the sender out of "
        "the proxy number texted; JSON list",
    )
    start_keywords: tuple[str, ...] = Field(
        ("START", "UNSTOP"),
        description="messages that undo an opt-out; JSON list",
    )
    help_keywords: tuple[str, ...] = Field(
        ("HELP",), description="messages answered with help_reply; JSON list"
    )
    stop_reply: str = Field(
        "You are unsubscribed and will receive no more messages from this number. "
        "Reply START to resubscribe.",
        description="confirmation sent after a stop keyword",
    )
    start_reply: str = Field(
        "You are subscribed again to messages from this number. Reply STOP to unsubscribe.",
        description="confirmation sent after a start keyword",
    )
    help_reply: str = Field(
        "Messages to this number are relayed to your conversation partner. "
        "Reply STOP to unsubscribe.",
        description="answer to a help keyword",
    )

    # Abuse budgets (docs/abuse-and-retention.md).
    auto_reply_interval: float = Field(
        60.0,
        ge=0,
        description="least seconds between two automatic answers (HELP, START, a hook's reply "
        "to a blocked text) to one real number on one proxy number; out-of-session replies use "
        "the pool's reply_interval (at least 60 s), an opt-out's confirmation none",
    )
    auto_reply_budget: int = Field(
        10,
        ge=1,
        description="automatic replies of every kind (keyword answers, confirmations, "
        "out-of-session replies) to one real number on one proxy number per auto_reply_window",
    )
    auto_reply_window: float = Field(
        24 * 3600.0, gt=0, description="seconds of the window auto_reply_budget counts in"
    )
    session_rate_max_messages: int = Field(
        30,
        ge=0,
        description="messages a session may relay per session_rate_window; one more closes it "
        "with reason RATE_LIMITED (two auto-responders answering each other); 0 = no cap",
    )
    session_rate_window: float = Field(
        60.0, gt=0, description="seconds of the window session_rate_max_messages counts in"
    )

    # Retention (docs/abuse-and-retention.md); each pool sets how long message text is kept.
    sessionless_retention: float = Field(
        30 * 24 * 3600.0,
        gt=0,
        description="seconds numproxy's replies recorded without a session (keyword answers, "
        "out-of-session replies) are kept; then housekeeping deletes them",
    )
    reply_log_retention: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="seconds a real number's automatic-reply record is kept after its last "
        "reply (keep it above auto_reply_window and the pools' reply_interval: a pruned "
        "record lets the next reply through early)",
    )
    retention_batch: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="closed sessions redacted, or rows deleted, per transaction by each "
        "retention task; at most 50 transactions per task and housekeeping run",
    )

    # Group commit of inbound SMS (inbound_batch.py).
    inbound_batch_max: int = Field(
        100,
        ge=1,
        description="plain inbound SMS written in one transaction at most when they arrive "
        "while an earlier batch is being written (1 = one transaction per message)",
    )
    inbound_batch_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "inbound batches written at once (PostgreSQL; SQLite writes one at a time); one "
            "makes the largest batches, the least CPU per message; raise it when the database "
            "is remote and the router has CPU to spare"
        ),
    )

    # Outbound dispatch (dispatcher.py).
    # 16 capped forwarding at ~16 / (one send's round trip): ~170 msg/s on a loaded 2-core
    # machine while inbound ran at 450/s.
    dispatch_concurrency: int = Field(
        64, ge=1, description="outbound messages being sent at once per router process"
    )
    dispatch_queue_max: int = Field(
        256,
        ge=0,
        description="outbound rows handed to this process's dispatcher in memory (written "
        "leased to it, sent without a claim) that may wait for a send slot; beyond that, rows "
        "are written due now and claimed from the database (0 = only while a slot is free)",
    )
    send_batch_max: int = Field(
        50,
        ge=1,
        le=MAX_BATCH_ITEMS,
        description="outbound messages handed to the sender in one call at most",
    )
    send_result_linger: float = Field(
        0.05,
        ge=0,
        le=5,
        description="seconds a send result waits to be recorded with others in one transaction "
        "(0 = at once); the outbound row shows SENT that much later",
    )
    dispatch_lease: float = Field(
        60.0,
        gt=0,
        description="seconds a claimed outbound row is reserved for the process sending it; "
        "after a crash it is retried once this ran out (keep it above send_timeout)",
    )
    retry_initial_backoff: float = Field(
        2.0, gt=0, description="seconds before the first retry of a failed send"
    )
    retry_max_backoff: float = Field(
        300.0, gt=0, description="upper bound of the exponential retry backoff, seconds"
    )
    max_send_attempts: int = Field(
        12, ge=1, description="send attempts before an outbound message is marked FAILED"
    )
    max_send_age: float = Field(
        24 * 3600.0,
        gt=0,
        description="seconds after queueing when an outbound message is no longer retried",
    )
    retryable_provider_statuses: tuple[int, ...] = Field(
        (1, 5, 9, 10, 13),
        description="provider status codes (sender reason PROVIDER_STATUS_<n>) retried "
        "whatever gRPC status carried them; JSON list",
    )

    # Observability (docs/operations.md).
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="HTTP port serving Prometheus metrics on /metrics (0 = off; the chart "
        "uses 9090)",
    )
    metrics_interval: float = Field(
        15.0,
        gt=0,
        description="seconds between the queries behind the gauges (outbox depth and age, "
        "numbers, headroom, sessions); never run per scrape",
    )
    metrics_max_pools: int = Field(
        100,
        ge=1,
        le=10_000,
        description="pools with their own `pool` label in metrics (by name); the rest are "
        "summed under _other",
    )
    # Authorization and audit (common/authorization.py, router/audit/).
    callers: Callers = Field(
        {"gateway": {"scopes": ["inbound"]}},  # type: ignore[dict-item]  # validated
        description="what each authenticated caller may do: JSON object, caller name -> "
        '{"scopes": [...], "pools": [...]} (pools optional: limits the caller to those pools); '
        "a caller not listed may call nothing (docs/security.md)",
    )
    audit_retention: float = Field(
        90 * 24 * 3600.0,
        gt=0,
        description="seconds audit entries are kept; older ones are pruned by housekeeping",
    )
    audit_batch_max: int = Field(
        200, ge=1, le=10_000, description="audit entries written in one transaction at most"
    )
