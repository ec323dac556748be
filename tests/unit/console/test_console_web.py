"""The console over HTTP with a fake router: no data without credentials, logins and the
trusted identity header, CSRF on every action, confirmation, audit, roles, masking, 404s."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from numproxy.console.app import create_app
from numproxy.console.audit import AuditLog
from numproxy.console.passwords import hash_password
from numproxy.console.settings import ConsoleSettings
from tests.unit.console.fake_router import (
    ANN,
    BOB,
    PROXY_A,
    SECRET_TEXT,
    SESSION_ID,
    FakeRouter,
)

KEY = "k" * 40
PROXY_IP = "10.1.2.3"


def accounts() -> str:
    cheap = {"iterations": 1000}
    return ",".join(
        [
            f"ada:admin:{hash_password('ada-password', **cheap)}",
            f"olga:operator:{hash_password('olga-password', **cheap)}",
            f"vic:viewer:{hash_password('vic-password', **cheap)}",
        ]
    )


def settings(**changes: Any) -> ConsoleSettings:
    values: dict[str, Any] = {
        "users": accounts(),
        "secret_key": KEY,
        "cookie_secure": False,
        "auth_header": "X-Forwarded-User",
        "trusted_proxies": [f"{PROXY_IP}/32"],
        "header_roles": {"hal": "operator"},
    }
    values.update(changes)
    return ConsoleSettings(**values)


class Console:
    def __init__(self, tmp_path: Path, **changes: Any) -> None:
        self.router = FakeRouter()
        self.audit_file = tmp_path / "audit.jsonl"
        config = settings(audit_file=str(self.audit_file), **changes)
        self.app = create_app(config, self.router, AuditLog(config.audit_file))

    def client(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://console.test")

    def audit(self) -> list[dict[str, str]]:
        lines = self.audit_file.read_text().splitlines() if self.audit_file.exists() else []
        entries = [json.loads(line) for line in lines]
        return [e for e in entries if e["action"] != "login"]  # actions only


@pytest.fixture
def console(tmp_path: Path) -> Console:
    return Console(tmp_path)


@pytest.fixture
async def anonymous(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    async with console.client() as client:
        yield client


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"csrf_token": csrf(page.text), "username": user, "password": password, "next": "/"},
    )


def assert_private(html: str) -> None:
    assert ANN not in html and BOB not in html, "a real number reached the page"


# --- no credentials: the login page, never data ------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/sessions", "/pools", f"/sessions/{SESSION_ID}", f"/sessions/{SESSION_ID}/conversation"],
)
async def test_pages_without_credentials_lead_to_the_login(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    reply = await anonymous.get(path)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=")
    page = await anonymous.get(reply.headers["location"])
    assert page.status_code == 200 and "Sign in" in page.text
    assert PROXY_A not in page.text and "+1***" not in page.text  # no data, only the form


async def test_streams_and_actions_without_credentials_are_refused(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    assert (await anonymous.get(f"/sessions/{SESSION_ID}/live")).status_code == 401
    assert (await anonymous.get("/events/live")).status_code == 401
    reply = await anonymous.post(f"/sessions/{SESSION_ID}/close", data={"confirm": "yes"})
    assert reply.status_code == 401 and console.router.closed == []


async def test_a_wrong_password_is_refused_and_repeated_failures_block(
    anonymous: httpx.AsyncClient,
) -> None:
    reply = await login(anonymous, "ada", "nope")
    assert reply.status_code == 401 and "Wrong user name or password" in reply.text
    assert (await login(anonymous, "nobody", "x")).status_code == 401
    for _ in range(5):
        await login(anonymous, "ada", "nope")
    blocked = await login(anonymous, "ada", "ada-password")
    assert blocked.status_code == 401 and "Too many failed attempts" in blocked.text


async def test_a_login_shows_sessions_with_masked_numbers(anonymous: httpx.AsyncClient) -> None:
    reply = await login(anonymous, "ada", "ada-password")
    assert reply.status_code == 303
    assert "<td>ada (login)</td><td>login</td>" in (await anonymous.get("/audit")).text
    page = await anonymous.get("/sessions")
    assert page.status_code == 200 and SESSION_ID in page.text
    assert "+1***01" in page.text and PROXY_A in page.text
    assert_private(page.text)
    assert "ada · admin" in page.text


async def test_the_login_form_itself_needs_its_csrf_token(anonymous: httpx.AsyncClient) -> None:
    await anonymous.get("/login")
    reply = await anonymous.post(
        "/login", data={"username": "ada", "password": "ada-password", "csrf_token": "forged"}
    )
    assert reply.status_code == 403


async def test_login_redirects_only_to_local_paths(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/login")
    reply = await anonymous.post(
        "/login",
        data={
            "csrf_token": csrf(page.text),
            "username": "ada",
            "password": "ada-password",
            "next": "//evil.example/steal",
        },
    )
    assert reply.headers["location"] == "/"


# --- the trusted identity header ------------------------------------------------------


async def test_the_identity_header_is_believed_only_from_the_proxies(console: Console) -> None:
    headers = {"X-Forwarded-User": "hal"}
    async with console.client(PROXY_IP) as proxied:
        page = await proxied.get("/sessions", headers=headers)
        assert page.status_code == 200 and "hal · operator" in page.text
    async with console.client("10.9.9.9") as direct:
        reply = await direct.get("/sessions", headers=headers)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


# --- 404 and bad input ------------------------------------------------------------------


@pytest.mark.parametrize("session_id", ["6c1f0000-0000-4000-8000-00000000ffff", "x" * 65, "a.b"])
async def test_an_unknown_session_is_a_404_page(
    anonymous: httpx.AsyncClient, session_id: str
) -> None:
    await login(anonymous, "ada", "ada-password")
    reply = await anonymous.get(f"/sessions/{session_id}")
    assert reply.status_code == 404 and "<h1>404</h1>" in reply.text


async def test_bad_filters_and_oversized_forms_are_refused(anonymous: httpx.AsyncClient) -> None:
    await login(anonymous, "ada", "ada-password")
    assert (await anonymous.get("/sessions?status=nonsense")).status_code == 400
    assert (await anonymous.get("/sessions?participant=not-a-number")).status_code == 400
    assert (await anonymous.get("/sessions?pool=Bad_Pool")).status_code == 400
    big = await anonymous.post(
        f"/sessions/{SESSION_ID}/send",
        content=b"text=" + b"x" * 20_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413


# --- actions: CSRF, confirmation, audit, roles ----------------------------------------------


async def test_closing_needs_the_csrf_token(anonymous: httpx.AsyncClient, console: Console) -> None:
    await login(anonymous, "olga", "olga-password")
    path = f"/sessions/{SESSION_ID}/close"
    assert (await anonymous.post(path, data={"confirm": "yes"})).status_code == 403
    forged = await anonymous.post(path, data={"confirm": "yes", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert console.router.closed == [] and console.audit() == []


async def test_a_cross_site_post_is_refused_even_with_the_token(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    await login(anonymous, "olga", "olga-password")
    path = f"/sessions/{SESSION_ID}/close"
    token = csrf((await anonymous.get(path)).text)
    reply = await anonymous.post(
        path,
        data={"confirm": "yes", "csrf_token": token},
        headers={"origin": "https://evil.example"},
    )
    assert reply.status_code == 403 and console.router.closed == []


async def test_closing_asks_for_confirmation_then_closes_and_audits(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    await login(anonymous, "olga", "olga-password")
    path = f"/sessions/{SESSION_ID}/close"
    confirm = await anonymous.get(path)
    assert confirm.status_code == 200 and "Close this session?" in confirm.text
    token = csrf(confirm.text)
    unconfirmed = await anonymous.post(path, data={"csrf_token": token})
    assert "Close this session?" in unconfirmed.text and console.router.closed == []
    done = await anonymous.post(path, data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303 and console.router.closed == [SESSION_ID]
    [entry] = console.audit()
    assert (entry["user"], entry["via"], entry["action"], entry["outcome"]) == (
        "olga",
        "login",
        "close_session",
        "done",
    )
    assert entry["target"] == f"sessions/{SESSION_ID}" and entry["time"]
    audit_page = await anonymous.get("/audit")
    assert "close_session" in audit_page.text


async def test_a_system_message_goes_to_the_chosen_participant(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    await login(anonymous, "ada", "ada-password")
    path = f"/sessions/{SESSION_ID}/send"
    form = await anonymous.get(path)
    assert_private(form.text)
    token = csrf(form.text)
    bad = await anonymous.post(path, data={"csrf_token": token, "to": "7", "text": "hi"})
    assert bad.status_code == 400 and console.router.sent == []
    review = await anonymous.post(path, data={"csrf_token": token, "to": "2", "text": "Be nice"})
    assert "Send this system message?" in review.text and console.router.sent == []
    assert_private(review.text)
    request_id = re.search(r'name="request_id" value="([^"]+)"', review.text)
    assert request_id
    done = await anonymous.post(
        path,
        data={
            "csrf_token": token,
            "to": "2",
            "text": "Be nice",
            "confirm": "yes",
            "request_id": request_id.group(1),
        },
    )
    assert done.status_code == 303
    assert console.router.sent == [(BOB, "Be nice", request_id.group(1))]
    [entry] = console.audit()
    assert entry["action"] == "send_message" and "+1***02" in entry["target"]
    assert "Be nice" not in json.dumps(entry) and BOB not in json.dumps(entry)


async def test_draining_a_number(anonymous: httpx.AsyncClient, console: Console) -> None:
    await login(anonymous, "olga", "olga-password")
    path = f"/pools/chat/numbers/{PROXY_A.replace('+', '%2B')}/drain"
    confirm = await anonymous.get(path)
    assert "Drain this number?" in confirm.text
    done = await anonymous.post(path, data={"csrf_token": csrf(confirm.text), "confirm": "yes"})
    assert done.status_code == 303 and console.router.drained == [("chat", PROXY_A)]
    assert console.audit()[0]["action"] == "drain_number"


async def test_a_viewer_reads_without_text_and_may_not_act(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    await login(anonymous, "vic", "vic-password")
    page = await anonymous.get(f"/sessions/{SESSION_ID}")
    assert page.status_code == 200 and SECRET_TEXT not in page.text
    assert "hidden (21 characters)" in page.text and "Close session" not in page.text
    token = csrf(page.text)
    reply = await anonymous.post(
        f"/sessions/{SESSION_ID}/close", data={"csrf_token": token, "confirm": "yes"}
    )
    assert reply.status_code == 403 and console.router.closed == []


async def test_the_conversation_shows_each_leg_with_its_status(
    anonymous: httpx.AsyncClient,
) -> None:
    await login(anonymous, "ada", "ada-password")
    page = await anonymous.get(f"/sessions/{SESSION_ID}")
    assert SECRET_TEXT in page.text  # admin reads text
    assert "received" in page.text and "failed" in page.text
    assert "DELIVERY_FAILED: handset +1***02 unreachable" in page.text
    assert_private(page.text)
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_the_live_streams_send_events_with_masked_numbers(
    anonymous: httpx.AsyncClient, console: Console
) -> None:
    await login(anonymous, "ada", "ada-password")
    session = await anonymous.get(f"/sessions/{SESSION_ID}/live", headers={"last-event-id": "41"})
    assert session.headers["content-type"].startswith("text/event-stream")
    assert "event: changed\ndata: 43" in session.text  # one reload for the burst
    assert console.router.watched[-1] == (41, SESSION_ID)
    events = await anonymous.get("/events/live")
    assert "event: event" in events.text and "+1***01" in events.text
    assert_private(events.text)
    assert (await anonymous.get("/sessions/nope-nope/live")).status_code == 404


# --- start-up refusals ------------------------------------------------------------------


def test_the_console_refuses_to_start_without_authentication() -> None:
    with pytest.raises(ValueError, match="no authentication configured"):
        ConsoleSettings(secret_key=KEY)
    with pytest.raises(ValueError, match="trusted_proxies"):
        ConsoleSettings(secret_key=KEY, auth_header="X-Forwarded-User")
    with pytest.raises(ValueError, match="secret_key"):
        ConsoleSettings(users=accounts())
    with pytest.raises(ValueError, match="loopback"):
        ConsoleSettings(local_dev=True)
    assert ConsoleSettings(local_dev=True, host="127.0.0.1").local_dev


async def test_local_dev_mode_needs_no_login(tmp_path: Path) -> None:
    console = Console(tmp_path, local_dev=True, host="127.0.0.1", users="")
    async with console.client() as client:
        page = await client.get("/sessions")
        assert page.status_code == 200 and "local-dev · admin" in page.text
