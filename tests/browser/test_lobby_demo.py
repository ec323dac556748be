"""The seed's demo in a real browser: two phones join the lobby by email, chat and end it
with #end; the console shows the session, each message with its delivery status, and the
close, with masked numbers only; a close from the console reaches both phones.

The whole stack runs as ``numproxy dev`` (what ``make run`` starts) on free ports.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import free_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ANN, BOB = "+15551230001", "+15551230002"
LOBBY = "+12025550105"
CONNECTED = "Connected — reply here to chat, send #end to stop."
GOODBYE = "The chat has ended."
WAIT_MS = 20_000
NUMPROXY = str(Path(sys.executable).with_name("numproxy"))


@dataclass
class DevStack:
    console: str
    simulator: str


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    names = ("gateway", "router", "sender", "simulator", "console", "lobby")
    ports = {name: free_port() for name in names}
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(
        [NUMPROXY, "dev", *[a for n, p in ports.items() for a in (f"--{n}-port", str(p))]],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "NUMPROXY_ROUTER_DISPATCH_INTERVAL": "0.2"},
    )
    assert dev.stdout is not None
    banner = ""
    try:
        while "Ctrl-C stops everything" not in banner:
            line = dev.stdout.readline()
            assert line, f"numproxy dev exited early; see {tmp_path / 'dev.log'}"
            banner += line
        yield DevStack(
            console=f"http://127.0.0.1:{ports['console']}",
            simulator=f"http://127.0.0.1:{ports['simulator']}",
        )
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
        log.close()


class Phone:
    def __init__(self, page: Any, number: str) -> None:
        self.page = page
        self.pane = page.locator(f'[data-phone="{number}"]')

    def text(self, body: str, to: str | None = None) -> None:
        if to is not None:
            self.pane.locator(".to").fill(to)
        self.pane.locator(".text").fill(body)
        self.pane.locator(".text").press("Enter")

    def received(self, pattern: str) -> Any:
        from playwright.sync_api import expect

        message = self.pane.locator('[data-testid="received"]', has_text=pattern).last
        expect(message).to_be_visible(timeout=WAIT_MS)
        return message

    def expect_count(self, pattern: str, count: int) -> None:
        from playwright.sync_api import expect

        messages = self.pane.locator('[data-testid="received"]', has_text=pattern)
        expect(messages).to_have_count(count, timeout=WAIT_MS)

    def count(self, pattern: str) -> int:
        return int(self.pane.locator('[data-testid="received"]', has_text=pattern).count())

    def reply_to(self, pattern: str) -> str:
        """Click a received message: the phone answers the number it came from."""
        message = self.received(pattern)
        message.click()
        return str(message.get_attribute("data-from"))


def assert_masked_only(html: str) -> None:
    assert ANN not in html and BOB not in html, "a real number is on the console page"
    assert ANN.lstrip("+") not in html and BOB.lstrip("+") not in html


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    keep = os.environ.get("NUMPROXY_BROWSER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / name, Path(keep) / name)


def test_two_phones_meet_in_the_lobby_and_the_console_follows(
    browser: Any, dev_stack: DevStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1000, "height": 760})
    phones_page = context.new_page()
    phones_page.goto(f"{dev_stack.simulator}/_sim/phones?phones={ANN},{BOB}&to={LOBBY}")
    ann, bob = Phone(phones_page, ANN), Phone(phones_page, BOB)

    # Join by email: the first waits, the second is paired with them.
    ann.text("ann@example.com")
    ann.received("Waiting for another user")
    bob.text("bob@example.org")
    ann_proxy = ann.reply_to(CONNECTED)
    bob_proxy = bob.reply_to(CONNECTED)
    assert ann_proxy != LOBBY and bob_proxy != LOBBY
    received = phones_page.locator('[data-testid="received"]').all_inner_texts()
    assert not any("@example" in text for text in received), "an email reached a phone"

    # Chat through the proxy numbers, each side seeing only proxy numbers.
    ann.text("Hi Bob, fancy a chat?")
    assert bob.received("Hi Bob, fancy a chat?").get_attribute("data-from") == bob_proxy
    bob.text("Sure, Ann!")
    assert ann.received("Sure, Ann!").get_attribute("data-from") == ann_proxy

    # The console: the session, each message with its delivery status, masked numbers.
    console = context.new_page()
    console.goto(f"{dev_stack.console}/sessions?pool=chat")
    console.locator('[data-testid="sessions"] a').first.click()
    interactions = console.locator('[data-testid="interaction"]')
    expect(interactions.filter(has_text="Sure, Ann!").filter(has_text="delivered")).to_have_count(
        1, timeout=WAIT_MS
    )
    expect(
        interactions.filter(has_text="Hi Bob, fancy a chat?").filter(has_text="delivered")
    ).to_have_count(1, timeout=WAIT_MS)
    expect(interactions.filter(has_text="inbound")).to_have_count(2)
    assert_masked_only(console.content())
    assert "+1***01" in console.content()

    # #end closes it for both, with the goodbye; the open console page follows live.
    ann.text("#end")
    ann.received(GOODBYE)
    bob.received(GOODBYE)
    expect(console.locator('[data-testid="session-status"]')).to_have_text(
        "closed", timeout=WAIT_MS
    )
    expect(console.locator('[data-testid="closed-reason"]')).to_contain_text("participant ended")
    expect(console.get_by_role("link", name="Close session")).to_have_count(0)
    assert_masked_only(console.content())
    screenshot(console, tmp_path, "console.png")
    screenshot(phones_page, tmp_path, "phones.png")

    # Both rejoin; this time the console closes the chat, and both phones hear it.
    goodbyes = (ann.count(GOODBYE), bob.count(GOODBYE))
    ann.text("ann@example.com", to=LOBBY)
    ann.expect_count("Waiting for another user", 2)
    bob.text("bob@example.org", to=LOBBY)
    bob.expect_count(CONNECTED, 2)
    ann.expect_count(CONNECTED, 2)
    console.goto(f"{dev_stack.console}/sessions?pool=chat&status=open")
    console.locator('[data-testid="sessions"] a').first.click()
    console.get_by_role("link", name="Close session").click()
    console.get_by_test_id("confirm").click()
    expect(console.get_by_test_id("notice")).to_have_text("Session closed.")
    ann.expect_count(GOODBYE, goodbyes[0] + 1)
    bob.expect_count(GOODBYE, goodbyes[1] + 1)
    console.goto(f"{dev_stack.console}/audit")
    expect(console.locator('[data-testid="audit"]')).to_contain_text("close_session")
    assert re.search(r"local-dev", console.content())
    context.close()
