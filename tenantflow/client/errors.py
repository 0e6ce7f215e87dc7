"""The client's errors: an API problem (RFC 9457) or a transport failure.

Every problem raises :class:`ApiError` (``code`` is the problem type's last
segment, e.g. ``not-found``); one reported inside a streamed answer raises its
subclass :class:`StreamError`.
"""

from __future__ import annotations

from typing import Any

import httpx

from tenantflow.api.models import Problem


class ApiError(Exception):
    """The server answered with a problem. ``code`` is the problem type's last segment."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        self.status = problem.status
        self.code = problem.type.rsplit("/", 1)[-1]
        self.detail = problem.detail

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read a problem+json body (or make one from a non-problem error)."""
        try:
            body: Any = response.json()
            problem = Problem.model_validate(body)
        except ValueError:
            problem = Problem(
                type="/problems/http-error",
                title=response.reason_phrase or "HTTP error",
                status=response.status_code,
                detail=response.text[:500] or response.reason_phrase,
            )
        return cls(problem)


class StreamError(ApiError):
    """A problem reported by an ``error`` event of a streamed call (after its 200 answer began).

    The event's data is the problem the unstreamed call would have answered
    with, so ``status``, ``code`` and ``problem`` (extension members included)
    are the same as that call's :class:`ApiError`. A stream that ends before its
    result has no problem of its own: its ``code`` is ``stream-ended`` and its
    ``status`` the 200 of the answer.
    """

    @classmethod
    def from_event(cls, data: Any) -> StreamError:
        """The error of an ``error`` event's data (a problem object).

        An event missing members of a problem (an older server sent only ``type``
        and ``detail``) still raises: the title is made from the type, and the
        status, unknown, is 500.
        """
        body: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
        try:
            return cls(Problem.model_validate(body))
        except ValueError:
            pass
        kind = body.get("type")
        kind = kind if isinstance(kind, str) and kind else "/problems/stream-error"
        status = body.get("status")
        detail = body.get("detail")
        return cls(
            Problem(
                type=kind,
                title=kind.rsplit("/", 1)[-1].replace("-", " ").capitalize(),
                status=status if isinstance(status, int) and 400 <= status < 600 else 500,
                detail=detail if isinstance(detail, str) and detail else "the streamed call failed",
            )
        )
