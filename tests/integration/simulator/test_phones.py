"""The phones page: panes for the phones asked for, and each phone's received SMS read from
the outbox by sequence (only what is new after ``after``)."""

from __future__ import annotations

from tests.integration.simulator.helpers import SimStack

CREDS = {"api_key": "simkey", "api_secret": "simsecret"}


async def send(sim: SimStack, to: str, text: str) -> None:
    reply = await sim.http.post(
        "/sms/json", data={**CREDS, "from": "12025550101", "to": to, "text": text}
    )
    assert reply.json()["messages"][0]["status"] == "0"


async def test_the_page_has_a_pane_per_phone(sim: SimStack) -> None:
    page = await sim.http.get(
        "/_sim/phones", params={"phones": "15551230001,+15551230002", "to": "+12025550105"}
    )
    assert page.status_code == 200 and page.text.count('data-testid="phone"') == 2
    assert 'data-phone="+15551230002"' in page.text and 'value="+12025550105"' in page.text
    assert (await sim.http.get("/_sim/phones", params={"phones": "x<script>"})).status_code == 400


async def test_a_phone_reads_only_its_own_new_messages(sim: SimStack) -> None:
    await send(sim, "15551230001", "one")
    await send(sim, "15551230002", "not yours")
    await send(sim, "15551230001", "two")
    url = "/_sim/phones/messages"
    first = (await sim.http.get(url, params={"number": "+15551230001"})).json()
    assert [(m["text"], m["from"]) for m in first["messages"]] == [
        ("one", "+12025550101"),
        ("two", "+12025550101"),
    ]
    after = first["messages"][0]["seq"]
    later = (await sim.http.get(url, params={"number": "+15551230001", "after": after})).json()
    assert [m["text"] for m in later["messages"]] == ["two"]
    await sim.http.delete("/_sim/outbox")
    await send(sim, "15551230001", "three")
    newest = await sim.http.get(url, params={"number": "15551230001", "after": first["last"]})
    assert [m["text"] for m in newest.json()["messages"]] == ["three"]
    bad = await sim.http.get(url, params={"number": "+15551230001", "after": "-1"})
    assert bad.status_code == 400
