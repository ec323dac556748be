"""One logging set-up for every service: JSON when not on a terminal, numbers masked.

Request and message ids travel in a ContextVar and appear on every record logged while set.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from numproxy.common import tracing
from numproxy.common.numbers import mask_numbers_in

request_id: ContextVar[str | None] = ContextVar("numproxy_request_id", default=None)

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_numbers_in(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the message masked and any `extra` fields included."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": mask_numbers_in(record.getMessage()),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        ids = tracing.current_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = mask_numbers_in(str(value)) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = mask_numbers_in(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.rid = request_id.get() or "-"
        ids = tracing.current_ids()
        record.trace = f" trace_id={ids[0]} span_id={ids[1]}" if ids else ""
        return True


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Configure the root logger once, at start-up, from the composition root.

    fmt: "json", "text", or "auto" (JSON unless stderr is a terminal).
    """
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    if use_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.addFilter(_RequestIdFilter())
        handler.setFormatter(
            _MaskingFormatter(
                f"%(asctime)s %(levelname)-5s {service} %(name)s [%(rid)s%(trace)s] %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs would print full webhook query strings (phone numbers); the gateway logs
    # its own masked line per request instead.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
