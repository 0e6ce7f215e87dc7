"""RFC 9457 problem+json: the one place errors become HTTP responses.

Every error the API returns, including FastAPI's own 404/405/422 and the
request-size limit, is ``application/problem+json`` with a stable ``type``
(``/problems/<code>``, documented at that path on the server).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantflow.engine import errors as engine_errors
from tenantflow.tenants.errors import (
    ConflictError,
    InvalidBundleError,
    NotFoundError,
    QuotaExceededError,
    TenantError,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

PROBLEMS: dict[str, tuple[int, str, str]] = {
    # code: (status, title, what it means)
    "bad-request": (400, "Bad request", "The request could not be read."),
    "unauthorized": (
        401,
        "Unauthorized",
        "No API key, or the key is unknown or revoked. Send 'Authorization: Bearer <key>'.",
    ),
    "forbidden": (403, "Forbidden", "The key is valid but may not use this route."),
    "not-found": (
        404,
        "Not found",
        "No such resource for this tenant (another tenant's resources are not found either).",
    ),
    "method-not-allowed": (405, "Method not allowed", "The route exists; the method does not."),
    "conflict": (409, "Conflict", "The resource exists or is in a state that forbids this."),
    "request-too-large": (413, "Request too large", "The request body exceeds the size limit."),
    "unsupported-media-type": (415, "Unsupported media type", "Send the documented type."),
    "validation-error": (422, "Validation error", "The request does not match the schema."),
    "invalid-bundle": (
        422,
        "Invalid bundle",
        "The uploaded workflow was refused (archive, encoding or the sandbox's verdict).",
    ),
    "quota-exceeded": (
        429,
        "Quota exceeded",
        "A tenant quota would be exceeded; 'quota' names it and 'limit' gives its value.",
    ),
    "invalid-state": (409, "Invalid state", "The instance's state does not allow this operation."),
    "invalid-payload": (422, "Invalid payload", "An event or payload is not JSON or is too big."),
    "injection-requires-default-deny": (
        409,
        "Injection requires default deny",
        "Credential rules inject secrets, so they exist only under a default-deny egress policy.",
    ),
    "not-ready": (503, "Not ready", "The service is starting or lost its database."),
    "internal-error": (500, "Internal error", "The server failed; the error was logged."),
}


def problem_type(code: str) -> str:
    """The stable ``type`` URI of a problem code."""
    return f"/problems/{code}"


class ApiProblem(Exception):
    """Raise from a route to answer with a problem (extra keys become members)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status or PROBLEMS[code][0]
        self.headers = headers
        self.extra = extra


def problem_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    default_status, title, _ = PROBLEMS[code]
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status or default_status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(
        json.dumps(body, default=str),
        status_code=body["status"],
        media_type=MEDIA_TYPE,
        headers=headers,
    )


_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "request-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "quota-exceeded",
    503: "not-ready",
}


def _tenant_error(exc: TenantError, path: str) -> Response:
    if isinstance(exc, QuotaExceededError):
        return problem_response(
            "quota-exceeded",
            exc.message,
            status=413 if exc.too_large else 429,
            instance=path,
            quota=exc.quota,
            limit=exc.limit,
        )
    if isinstance(exc, InvalidBundleError):
        extra: dict[str, Any] = {"guest_error": exc.guest_error} if exc.guest_error else {}
        return problem_response("invalid-bundle", exc.message, instance=path, **extra)
    if isinstance(exc, NotFoundError):
        return problem_response("not-found", exc.message, instance=path)
    if isinstance(exc, ConflictError):
        return problem_response("conflict", exc.message, instance=path)
    log.error("unmapped tenant error on %s: %s", path, exc)
    return problem_response("internal-error", "internal error", instance=path)


_ENGINE_CODES: list[tuple[type[engine_errors.EngineError], str]] = [
    (engine_errors.NotFound, "not-found"),
    (engine_errors.CodeNotFound, "not-found"),
    (engine_errors.InvalidTransition, "invalid-state"),
    (engine_errors.InvalidPayload, "invalid-payload"),
    (engine_errors.BatchTooLarge, "validation-error"),
    (engine_errors.IdempotencyConflict, "conflict"),
    (engine_errors.LeaseLost, "conflict"),
]


def _engine_error(exc: engine_errors.EngineError, path: str) -> Response:
    for kind, code in _ENGINE_CODES:
        if isinstance(exc, kind):
            return problem_response(code, str(exc), instance=path)
    log.error("unmapped engine error on %s: %r", path, exc)
    return problem_response("internal-error", "internal error", instance=path)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only location, message and type: echoing inputs back could leak or fail to serialise.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


class InternalErrorMiddleware:
    """Answers an unhandled exception with the ``internal-error`` problem, keeping the connection.

    Starlette's outermost error middleware answers with the same body but then re-raises,
    and the server closes the connection: a client's next request on that keep-alive
    connection fails. Catching here, inside it, answers without the re-raise. An error
    after the response has started (a stream) cannot be answered and is re-raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if started:
                raise
            path = scope.get("path", "")
            log.exception("unhandled error on %s %s", scope.get("method", ""), path)
            response = problem_response("internal-error", "internal error", instance=path)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem+json."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        headers = exc.headers
        if exc.status == 401 and not headers:
            headers = {"WWW-Authenticate": "Bearer"}
        return problem_response(
            exc.code,
            exc.detail,
            status=exc.status,
            instance=request.url.path,
            headers=headers,
            **exc.extra,
        )

    @app.exception_handler(TenantError)
    async def _tenant(request: Request, exc: TenantError) -> Response:
        return _tenant_error(exc, request.url.path)

    @app.exception_handler(engine_errors.EngineError)
    async def _engine(request: Request, exc: engine_errors.EngineError) -> Response:
        return _engine_error(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "bad-request")
        detail = exc.detail if isinstance(exc.detail, str) else PROBLEMS[code][2]
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(
            code,
            detail,
            status=exc.status_code,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = str(first["msg"])
        if first["loc"]:
            detail = f"{'.'.join(first['loc'])}: {detail}"
        return problem_response(
            "validation-error", detail, instance=request.url.path, errors=errors
        )

    app.add_middleware(InternalErrorMiddleware)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        # Reached only for errors outside InternalErrorMiddleware (in an outer middleware).
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response("internal-error", "internal error", instance=request.url.path)
