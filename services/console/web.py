"""One wrapper for every console endpoint: identity, CSRF, bounded forms, roles, security
headers and the mapping of router errors to pages. Endpoints only do their own work."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from numproxy.client import InvalidArgumentError, NotFoundError, NumproxyError, UnavailableError
from numproxy.console.audit import AuditLog
from numproxy.console.identity import COOKIE, Authenticator, CookieState, Identity
from numproxy.console.login_throttle import LoginThrottle
from numproxy.console.router_api import Router
from numproxy.console.settings import ConsoleSettings

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 16
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass
class Console:
    """Everything the endpoints share, built by the composition root."""

    settings: ConsoleSettings
    router: Router
    auth: Authenticator
    audit: AuditLog
    templates: Jinja2Templates
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    open_streams: int = 0


@dataclass
class Context:
    console: Console
    identity: Identity | None
    cookie: CookieState
    form: dict[str, str]

    @property
    def user(self) -> Identity:
        assert self.identity is not None  # only public endpoints run without one
        return self.identity

    @property
    def can_act(self) -> bool:
        return self.identity is not None and (
            self.identity.role in self.console.settings.action_roles
        )

    @property
    def can_read_text(self) -> bool:
        return self.identity is not None and (
            self.identity.role in self.console.settings.text_roles
        )


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request, Context], Awaitable[Response]]


def render(
    request: Request, ctx: Context, template: str, status: int = 200, **values: Any
) -> Response:
    values.update(
        identity=ctx.identity,
        csrf_token=ctx.cookie.csrf,
        can_act=ctx.can_act,
        can_read_text=ctx.can_read_text,
        login_enabled=ctx.console.auth.login_enabled,
    )
    return ctx.console.templates.TemplateResponse(request, template, values, status_code=status)


def error_page(request: Request, ctx: Context, status: int, message: str) -> Response:
    return render(request, ctx, "error.html", status=status, status_code=status, message=message)


def session_id(request: Request) -> str:
    """The {session_id} path parameter; anything that cannot be one is a 404."""
    value = str(request.path_params.get("session_id", ""))
    if not SESSION_ID.match(value):
        raise HttpError(404, "No such session.")
    return value


def safe_next(target: str) -> str:
    """A local path to return to after login (never another site)."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target[:512]


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, bounded in size and fields."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise HttpError(413, "Request too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HttpError(413, "Request too large.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "Malformed form.") from exc
    return dict(pairs)


def _same_origin(request: Request) -> bool:
    """No Origin header (older clients, curl) leaves it to the CSRF token; one that names
    another site (or "null") is refused outright."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def endpoint(
    *, public: bool = False, action: bool = False, stream: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: who is asking, CSRF on every POST, roles for actions.

    ``public``: no identity needed (login, health). ``action``: changes something, needs an
    action role. ``stream``: an event stream, answered 401 rather than redirected.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            console: Console = request.app.state.console
            cookie = console.auth.read_cookie(request)
            fresh_cookie = cookie is None
            ctx = Context(console, None, cookie or CookieState.fresh(), {})
            ctx.identity = console.auth.identify(request, cookie)
            try:
                response = await _checked(request, ctx, handler, public, action, stream)
            except HttpError as exc:
                response = error_page(request, ctx, exc.status, exc.message)
            except NotFoundError:
                response = error_page(request, ctx, 404, "Not found.")
            except InvalidArgumentError as exc:
                response = error_page(request, ctx, 400, f"The router refused it: {exc}")
            except UnavailableError:
                response = error_page(request, ctx, 503, "The router is unreachable; try again.")
            except NumproxyError as exc:
                response = error_page(request, ctx, 409, f"The router refused it: {exc}")
            if fresh_cookie and not stream:
                set_cookie(response, console, ctx.cookie)
            response.headers.update(SECURITY_HEADERS)
            return response

        return run

    return wrap


async def _checked(
    request: Request, ctx: Context, handler: Handler, public: bool, action: bool, stream: bool
) -> Response:
    if ctx.identity is None and not public:
        if stream or request.method != "GET":
            raise HttpError(401, "Sign in first.")
        login = "/login?next=" + quote(request.url.path, safe="/")
        return RedirectResponse(login, status_code=303)
    if request.method == "POST":
        if not _same_origin(request):
            raise HttpError(403, "Cross-site request refused.")
        ctx.form = await read_form(request)
        token = ctx.form.get("csrf_token", "")
        cookie = ctx.console.auth.read_cookie(request)
        if cookie is None or not hmac.compare_digest(token.encode(), cookie.csrf.encode()):
            raise HttpError(403, "Missing or invalid form token; reload the page and retry.")
    if action and not ctx.can_act:
        raise HttpError(403, "Your role may not do this.")
    return await handler(request, ctx)


def set_cookie(response: Response, console: Console, state: CookieState) -> None:
    response.set_cookie(
        COOKIE,
        console.auth.dump_cookie(state),
        max_age=console.settings.session_max_age,
        httponly=True,
        secure=console.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
