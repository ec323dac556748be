"""Signing in and out with the accounts of NUMPROXY_CONSOLE_USERS, and health endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from numproxy.console.identity import CookieState
from numproxy.console.passwords import MAX_PASSWORD_LENGTH
from numproxy.console.web import Context, endpoint, render, safe_next, set_cookie


@endpoint(public=True)
async def login(request: Request, ctx: Context) -> Response:
    console = ctx.console
    target = safe_next(ctx.form.get("next") or request.query_params.get("next", "/"))
    if request.method == "GET":
        if ctx.identity is not None:
            return RedirectResponse(target, status_code=303)
        return render(request, ctx, "login.html", next=target, error="", status=200)
    user = ctx.form.get("username", "")[:64]
    password = ctx.form.get("password", "")[:MAX_PASSWORD_LENGTH]
    error = "Wrong user name or password."
    if not console.auth.login_enabled:
        error = "Sign-in with a password is not enabled here."
    elif console.throttle.blocked(user):
        error = "Too many failed attempts; wait a few minutes."
    else:
        account = console.auth.check_login(user, password)
        if account is not None:
            console.throttle.succeeded(user)
            response = RedirectResponse(target, status_code=303)
            # A new CSRF token with every login: a token seen before it is worthless after.
            set_cookie(response, console, CookieState.fresh(account.name, account.role))
            console.audit.record(account.name, "login", "login", "console", "done")
            return response
        console.throttle.failed(user)
    return render(request, ctx, "login.html", status=401, next=target, error=error)


@endpoint(public=True)
async def logout(request: Request, ctx: Context) -> Response:
    response = RedirectResponse("/login", status_code=303)
    set_cookie(response, ctx.console, CookieState.fresh())
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ready = await request.app.state.console.router.ready()
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)
