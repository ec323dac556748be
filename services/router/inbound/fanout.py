"""Stage: fan-out. A message in a live session is recorded as the session's inbound
interaction and queued once per other active participant, each copy sent **from that
participant's own proxy number** (prefixed "Name: " when the pool prefixes the sender's
display name). A binary message, and a text longer than one message may be (a multipart
message reassembled past MAX_TEXT_CHARS), are recorded with the reason, not forwarded. A text
an intercept hook rewrote is recorded as received and forwarded as rewritten. A copy for a
partner who opted out of its proxy number is left to the dispatcher's claim, which fails it
(OPTED_OUT).
"""

from __future__ import annotations

from numproxy.common.sms_encoding import MAX_TEXT_CHARS
from numproxy.router.inbound.batch import Batch
from numproxy.router.inbound.message import Outcome

BINARY_NOTE = "binary: not forwarded"


def too_long_note(length: int) -> str:
    return f"too long: {length} characters (at most {MAX_TEXT_CHARS}), not forwarded"


async def fan_out(batch: Batch) -> None:
    # A session closed by an earlier message of this batch (a STOP) is not open for the later
    # ones: the policy stage ran for them.
    for _, item, live in batch.in_open_sessions():
        text = item.text if item.forward_text is None else item.forward_text
        refused = BINARY_NOTE if item.binary else ""
        if not refused and len(text) > MAX_TEXT_CHARS:
            refused = too_long_note(len(text))
        if refused:
            batch.record_inbound(item, live, f"{item.note}; {refused}" if item.note else refused)
            batch.decide(item, Outcome.RECORDED, live.session_id)
            continue
        inbound_id = batch.record_inbound(item, live, item.note)
        if live.sender_label:
            text = f"{live.sender_label}: {text}"
        for partner, partner_proxy in live.partners:
            row = batch.queue_outbound(
                pool_id=live.pool_id,
                proxy_number=partner_proxy,
                recipient_number=partner,
                text=text,
                session_id=live.session_id,
                sender_number=item.sender,
                cause_id=inbound_id,
                traceparent=item.traceparent,
            )
            if (partner, partner_proxy) in live.opted_out_partners:
                batch.claim_only.add(row["id"])
        batch.decide(item, Outcome.FORWARDED, live.session_id, len(live.partners))
