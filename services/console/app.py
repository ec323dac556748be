"""The console's Starlette app: routes, templates and static files."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from numproxy.console import actions, live, login, views
from numproxy.console.audit import AuditLog
from numproxy.console.identity import Authenticator
from numproxy.console.router_api import Router
from numproxy.console.settings import ConsoleSettings
from numproxy.console.web import Console

STATIC = Path(__file__).with_name("static")


def templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("numproxy.console", "templates"),
        autoescape=select_autoescape(default=True),
    )
    return Jinja2Templates(env=env)


def create_app(settings: ConsoleSettings, router: Router, audit: AuditLog) -> Starlette:
    console = Console(settings, router, Authenticator(settings), audit, templates())
    get, both = ["GET"], ["GET", "POST"]
    app = Starlette(
        routes=[
            Route("/", views.home, methods=get),
            Route("/pools", views.pools, methods=get),
            Route("/pools/{pool}/numbers/{number}/drain", actions.drain_number, methods=both),
            Route("/sessions", views.sessions, methods=get),
            Route("/sessions/{session_id}", views.session_page, methods=get),
            Route("/sessions/{session_id}/conversation", views.conversation, methods=get),
            Route("/sessions/{session_id}/live", live.session_stream, methods=get),
            Route("/sessions/{session_id}/close", actions.close_session, methods=both),
            Route("/sessions/{session_id}/send", actions.send_message, methods=both),
            Route("/events", views.events, methods=get),
            Route("/events/live", live.events_stream, methods=get),
            Route("/audit", views.audit, methods=get),
            Route("/login", login.login, methods=both),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/healthz", login.healthz, methods=get),
            Route("/readyz", login.readyz, methods=get),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
    )
    app.state.console = console
    return app
