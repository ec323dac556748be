"""The gateway's one error type and its JSON shape: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from starlette.responses import JSONResponse


class WebhookError(Exception):
    """A webhook that cannot be accepted, with the HTTP status Vonage should get.

    ``detail`` goes to the gateway's log line only, never to the caller.
    """

    def __init__(self, status: int, code: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def bad_request(code: str, message: str) -> WebhookError:
    return WebhookError(400, code, message)


def unauthorized(code: str, message: str) -> WebhookError:
    return WebhookError(401, code, message)
