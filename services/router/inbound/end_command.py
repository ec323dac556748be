"""Stage: the pool's in-session end command (e.g. "#end"). A participant who texts exactly it
(trimmed, any case) in a live session closes the session for everyone, reason
PARTICIPANT_ENDED: the text is recorded as the sender's inbound interaction with a note and
never forwarded; the close notices go out from store/closing.py like on every close.

Distinct from STOP (keywords.py, which runs first): STOP opts one number out of one proxy
number; the end command only ends the conversation. The command comes with the session lookup
(store/queries.py ``find_sessions``), so the busy path reads nothing more for it.
"""

from __future__ import annotations

from numproxy.router.inbound.batch import Batch
from numproxy.router.inbound.message import Outcome
from numproxy.router.store.closing import Close
from numproxy.router.store.states import CloseReason

END_NOTE = "end command: session closed"


def is_end_command(text: str, end_command: str) -> bool:
    """Whether ``text`` is the pool's ``end_command`` (already trimmed and case-folded)."""
    return bool(end_command) and text.strip().casefold() == end_command


async def end_sessions(batch: Batch) -> None:
    for index, item in enumerate(batch.items):
        live = item.live
        if item.result is not None or live is None or item.binary:
            continue
        if not is_end_command(item.text, live.end_command):
            continue
        if not batch.is_open_for(index, live.session_id):
            continue  # an earlier message of this batch closed it: the policy stage decides
        note = END_NOTE + (f"; {item.note}" if item.note else "")
        batch.record_inbound(item, live, note)
        await batch.close(index, [Close(live.session_id, CloseReason.PARTICIPANT_ENDED, batch.now)])
        batch.decide(item, Outcome.KEYWORD, live.session_id)
