"""The audit trail of console actions: who did what, when.

Every action is logged (logger ``numproxy.console.audit``, numbers masked by the logging
setup) and, when ``NUMPROXY_CONSOLE_AUDIT_FILE`` is set, appended to that JSON-lines file.
The last entries are also kept in memory for the console's audit page.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from numproxy.common.numbers import mask_numbers_in

log = logging.getLogger("numproxy.console.audit")
RECENT_ENTRIES = 200


@dataclass(frozen=True)
class AuditEntry:
    time: str
    user: str
    via: str
    action: str
    target: str
    outcome: str
    detail: str = ""


class AuditLog:
    def __init__(self, path: str = "") -> None:
        self._path = Path(path) if path else None
        self.recent: deque[AuditEntry] = deque(maxlen=RECENT_ENTRIES)

    def record(
        self, user: str, via: str, action: str, target: str, outcome: str, detail: str = ""
    ) -> AuditEntry:
        """Record one action; ``detail`` is free text and has its phone numbers masked."""
        entry = AuditEntry(
            datetime.now(UTC).isoformat(timespec="seconds"),
            user,
            via,
            action,
            target,
            outcome,
            mask_numbers_in(detail),
        )
        self.recent.appendleft(entry)
        log.info(
            "audit: %s (%s) %s %s: %s%s",
            user,
            via,
            action,
            target,
            outcome,
            f" ({entry.detail})" if entry.detail else "",
        )
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(entry)) + "\n")
        return entry
