"""Durable workflows, guest side: the ``step`` object handed to ``run(event, step)``.

A tenant bundle has ``/code/main.py`` defining ``run(event, step)``. The host
starts :func:`serve` in a sandbox; it asks the host for claimed instances one
at a time (``wf.next``), replays each from its journal (sent whole with the
instance, so replayed steps cost no round trip) and runs new steps:

- ``step.do(name, fn, retries=..., timeout=...)`` runs ``fn()`` once; its JSON
  result is committed by the host before ``do`` returns.
- ``step.sleep``/``sleep_until``/``wait_for_event`` hibernate: the host records
  the wait and the run of this instance ends (``_Suspend``); a worker replays
  it when the timer fires or the event arrives.

Runs in CPython for WASI: imports only fast builtins (no ``typing``, no ``re``).
"""

from __future__ import annotations

import sys
import time

from tenantflow.guest import _channel, _traceback, _wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

DEFAULT_RETRIES = {"limit": 5, "delay": 10.0, "backoff": "exponential", "max_delay": None}
BACKOFFS = ("constant", "linear", "exponential")
_UNITS = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip


class NonRetryableError(Exception):
    """Raise from a step to fail it at once, without further attempts."""


class StepError(Exception):
    """A step failed for good (attempts exhausted, non-retryable, timed out, bad result).

    ``step`` names the step, ``type``/``message`` describe the last error,
    ``attempts`` counts the attempts made. Replays raise the same error.
    """

    def __init__(self, step: str, type: str, message: str, attempts: int) -> None:
        super().__init__(f"step {step!r} failed after {attempts} attempt(s): {type}: {message}")
        self.step = step
        self.type = type
        self.message = message
        self.attempts = attempts


class EventTimeoutError(StepError):
    """``wait_for_event`` reached its timeout before a matching event arrived."""


class NonDeterminismError(BaseException):
    """The code asked for a different step than the journal recorded at that position.

    A ``BaseException`` so ``except Exception`` in tenant code cannot hide it.
    """


class _Suspend(BaseException):
    """The instance hibernates (sleep, wait, retry back-off): unwind the tenant's stack."""


class _Abort(BaseException):
    """The host took the instance away (paused, terminated, restarted, lease lost)."""


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``"10 s"``, ``"5 minutes"``, ``"1.5h"``."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be seconds or a string like '10 s', not a bool")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        cut = len(text)
        while cut > 0 and not (text[cut - 1].isdigit() or text[cut - 1] == "."):
            cut -= 1
        number, unit = text[:cut].strip(), text[cut:].strip() or "s"
        if unit not in _UNITS:
            raise ValueError(f"{what} {value!r}: unknown unit {unit!r}")
        try:
            seconds = float(number) * _UNITS[unit]
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number with a unit") from None
    else:
        raise TypeError(f"{what} must be seconds or a string like '10 s', got {value!r}")
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"{what} must not be negative: {value!r}")
    return seconds


def retry_policy(retries: Any) -> dict[str, Any]:
    """A normalized retry policy from ``None``, an int (limit) or a dict."""
    policy = dict(DEFAULT_RETRIES)
    if retries is None:
        return policy
    if isinstance(retries, int) and not isinstance(retries, bool):
        policy["limit"] = retries
    elif isinstance(retries, dict):
        unknown = set(retries) - {"limit", "delay", "backoff", "max_delay"}
        if unknown:
            raise ValueError(f"unknown retry options: {sorted(unknown)}")
        policy.update(retries)
    else:
        raise TypeError("retries must be an int (the limit) or a dict")
    limit = policy["limit"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"retries limit must be an int >= 0, got {limit!r}")
    policy["delay"] = parse_duration(policy["delay"], "retry delay")
    if policy["max_delay"] is not None:
        policy["max_delay"] = parse_duration(policy["max_delay"], "retry max_delay")
    if policy["backoff"] not in BACKOFFS:
        raise ValueError(f"backoff must be one of {BACKOFFS}, got {policy['backoff']!r}")
    return policy


def _error(exc: BaseException) -> dict[str, str]:
    return {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "traceback": _traceback.format_exception(exc),
    }


def _call(command: str, /, **args: Any) -> Any:
    try:
        return _channel.call(command, **args)
    except _channel.HostError as exc:
        if exc.type in ("LeaseLost", "JournalUnavailable"):
            raise _Abort(str(exc)) from None
        raise


class Step:
    """The durable step API of one instance (the ``step`` argument of ``run``)."""

    def __init__(self, job: dict[str, Any]) -> None:
        self._journal = {entry[0]: entry for entry in job.get("journal") or ()}
        self._seq = 0
        # Replaying until the code reaches the journal's last step: output until then was
        # stored by an earlier run, so the host drops it (see ``_live``).
        self._last_seq = max(self._journal, default=-1)
        self._replaying = self._last_seq >= 0
        self._max_bytes = int(job["max_bytes"])
        self._default_timeout = float(job["step_timeout"])
        self._event_timeout = float(job["event_timeout"])
        self._in_step = False
        # The tenant's max_steps_per_instance quota, if any: new steps past it are refused
        # here, before they run (the host enforces it again when they would be stored).
        self._max_steps: int | None = job.get("max_steps")
        # Whether every step is announced to the host before it runs (see ``do``).
        self._announce = bool(job.get("announce", True))
        self.suspended = False
        self.instance_id = str(job["id"])

    # -- journal -----------------------------------------------------------

    def _next(self, name: Any, kind: str) -> tuple[int, Any]:
        if self.suspended:
            raise _Suspend()
        if not isinstance(name, str) or not name:
            raise TypeError("a step name must be a non-empty string")
        if self._in_step:
            raise RuntimeError(f"step {name!r} started inside another step: steps do not nest")
        seq = self._seq
        self._seq += 1
        if self._replaying and seq >= self._last_seq:
            self._live()
        entry = self._journal.get(seq)
        if entry is None and self._max_steps is not None and seq >= self._max_steps:
            raise _channel.HostError(
                f"quota max_steps_per_instance exceeded: this instance may run "
                f"{self._max_steps} steps",
                type="QuotaExceeded",
            )
        if entry is not None and (entry[1] != name or entry[2] != kind):
            raise NonDeterminismError(
                f"non-deterministic workflow: at position {seq} the journal has "
                f"{entry[2]} step {entry[1]!r} but the code asked for {kind} step {name!r}"
            )
        return seq, entry

    def _live(self) -> None:
        """Replay reached the journal's last step: output from here on is new.

        Output printed so far is flushed first, so the host sees it as replayed (one-way
        frame: nothing to wait for).
        """
        self._replaying = False
        _channel.post("wf.live")

    def _suspend(self) -> NoReturn:
        self.suspended = True
        raise _Suspend()

    def _encode(self, name: str, value: Any) -> str:
        try:
            text = _wire.dumps(value)
        except (TypeError, ValueError) as exc:
            raise _BadResult("ResultNotJSON", f"step {name!r} result is not JSON: {exc}") from None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self._max_bytes:
            raise _BadResult(
                "ResultTooLarge",
                f"step {name!r} result is {size} bytes, over the cap of {self._max_bytes} bytes",
            )
        return text

    # -- the API -------------------------------------------------------------

    def do(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        retries: Any = None,
        timeout: Any = None,
    ) -> Any:
        """Run ``fn()`` as a durable step and return its (JSON) result.

        A committed step returns its stored result without running. ``retries``:
        an int (limit) or ``{"limit", "delay", "backoff", "max_delay"}``
        (defaults 5, "10 s", "exponential", none). ``timeout`` (default 10
        minutes) is enforced by the host. Raises :class:`StepError` once the
        step has failed for good.
        """
        seq, entry = self._next(name, "do")
        attempt = 1
        if entry is not None:
            status = entry[3]
            if status == "complete":
                return None if entry[5] is None else _wire.loads(entry[5])
            if status == "failed":
                raise _step_error(name, entry)
            attempt = int(entry[4]) + 1
        # The defaults travel as null: less to encode on the hot path.
        policy = None if retries is None else retry_policy(retries)
        seconds = None if timeout is None else parse_duration(timeout, "timeout")
        # One way: the host arms the step timeout while this frame is written, before ``fn``
        # runs. A quota refusal needs no reply: ``_next`` checked the budget, and the host
        # refuses to commit past it whatever the guest does. A step with the default
        # timeout need not be announced when the host says so (an instance's first run):
        # the deadline the host armed at the last journal write already bounds it, and with
        # no output since that write, all output until the commit is the step's own.
        if self._announce or seconds is not None or _channel.output_since_frame:
            _channel.post("wf.start", seq=seq, name=name, attempt=attempt, timeout=seconds,
                          retries=policy)  # fmt: skip
        started = time.time()
        self._in_step = True
        try:
            value = fn()
            text = self._encode(name, value)
        except _BadResult as exc:
            self._fail(seq, name, attempt, started, exc.info, False, policy)
        except NonRetryableError as exc:
            self._fail(seq, name, attempt, started, _error(exc), False, policy)
        except Exception as exc:
            self._fail(seq, name, attempt, started, _error(exc), True, policy)
        finally:
            self._in_step = False
        _call("wf.commit", seq=seq, name=name, attempt=attempt, started=started, output=text)
        return _wire.loads(text)

    def _fail(
        self,
        seq: int,
        name: str,
        attempt: int,
        started: float,
        error: dict[str, str],
        retryable: bool,
        policy: dict[str, Any] | None,
    ) -> NoReturn:
        reply = _call(
            "wf.fail",
            seq=seq,
            name=name,
            attempt=attempt,
            started=started,
            error=error,
            retryable=retryable,
            retries=policy,
        )
        if reply.get("retry"):
            self._suspend()
        raise StepError(name, error["type"], error["message"], attempt)

    def sleep(self, name: str, duration: Any) -> None:
        """Hibernate for ``duration`` (seconds or a string like ``"5 minutes"``)."""
        seq, entry = self._next(name, "sleep")
        if entry is not None and entry[3] == "complete":
            return
        wake_at = None if entry is not None else time.time() + parse_duration(duration)
        self._hibernate(seq, name, wake_at)

    def sleep_until(self, name: str, when: Any) -> None:
        """Hibernate until ``when``: epoch seconds, an aware ``datetime`` or an ISO 8601 string."""
        seq, entry = self._next(name, "sleep")
        if entry is not None and entry[3] == "complete":
            return
        self._hibernate(seq, name, None if entry is not None else _timestamp(when))

    def _hibernate(self, seq: int, name: str, wake_at: float | None) -> None:
        reply = _call("wf.sleep", seq=seq, name=name, wake_at=wake_at)
        if not reply.get("done"):
            self._suspend()

    def wait_for_event(self, name: str, *, type: str, timeout: Any = None) -> Any:
        """Hibernate until an event of ``type`` arrives and return its payload.

        Events sent before the wait starts are kept and matched (oldest first).
        ``timeout`` defaults to 24 hours; reaching it raises :class:`EventTimeoutError`.
        """
        seq, entry = self._next(name, "wait")
        if entry is not None:
            if entry[3] == "complete":
                return None if entry[5] is None else _wire.loads(entry[5])
            if entry[3] == "failed":
                raise _step_error(name, entry)
        if not isinstance(type, str) or not type:
            raise TypeError("wait_for_event needs an event type (a non-empty string)")
        seconds = self._event_timeout if timeout is None else parse_duration(timeout, "timeout")
        timeout_at = None if entry is not None else time.time() + seconds
        reply = _call("wf.wait", seq=seq, name=name, type=type, timeout_at=timeout_at)
        if "event" in reply:
            return _wire.loads(reply["event"])
        if reply.get("timeout"):
            raise EventTimeoutError(name, "EventTimeout", reply["timeout"], 1)
        self._suspend()


class _BadResult(Exception):
    def __init__(self, type: str, message: str) -> None:
        super().__init__(message)
        self.info = {"type": type, "message": message, "traceback": ""}


def _step_error(name: str, entry: Any) -> StepError:
    error = _wire.loads(entry[6]) if entry[6] else {}
    kind = EventTimeoutError if entry[2] == "wait" else StepError
    return kind(name, str(error.get("type", "Error")), str(error.get("message", "")), entry[4])


def _timestamp(when: Any) -> float:
    if isinstance(when, int | float) and not isinstance(when, bool):
        return float(when)
    import datetime

    if isinstance(when, str):
        when = datetime.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            raise ValueError("sleep_until needs a timezone-aware datetime")
        return when.timestamp()
    raise TypeError(f"sleep_until takes epoch seconds, a datetime or an ISO string, not {when!r}")


def _run_instance(job: dict[str, Any]) -> dict[str, Any]:
    instance_id = job["id"]
    cwd = job.get("cwd")
    if cwd:
        import os

        os.chdir(cwd)
    step = Step(job)
    try:
        module = __import__(job.get("module") or "main")
        value = module.run(_wire.loads(job["event"]), step)
        if step.suspended:
            return {"id": instance_id, "status": "suspended"}
        text = step._encode("workflow result", value)
    except _Suspend:
        return {"id": instance_id, "status": "suspended"}
    except _Abort:
        return {"id": instance_id, "status": "abandoned"}
    except _channel.ChannelClosed:
        raise
    except _BadResult as exc:
        return {"id": instance_id, "status": "errored", "error": exc.info}
    except BaseException as exc:
        if step.suspended:
            return {"id": instance_id, "status": "suspended"}
        return {"id": instance_id, "status": "errored", "error": _error(exc)}
    return {"id": instance_id, "status": "complete", "output": text}


def serve() -> None:
    """The sandbox entry point: run the instances the host hands out until it has none."""
    outcome: dict[str, Any] | None = None
    while True:
        _channel.flush_output()
        job = _channel.call("wf.next", outcome=outcome)
        if job is None:
            return
        outcome = _run_instance(job)
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
