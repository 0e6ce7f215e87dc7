"""One sandbox run serving claimed instances of one tenant, workflow and code hash.

The guest (:func:`tenantflow.guest.workflow.serve`) pulls instances with
``wf.next`` and reports each step through the ``wf.*`` handlers below. Each
reply reaches the guest only after the journal made the command durable, so a
step's result is committed before the guest continues. The step commit, the
hot path, holds no thread while it waits: it returns a deferred reply that is
written when the journal's future settles (``Journal.commit_step_later``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tenantflow.config import Settings
from tenantflow.engine.backend import Claim, Journal, Lease, LogEntry
from tenantflow.engine.errors import LeaseLost
from tenantflow.engine.resolver import ENTRY_MODULE
from tenantflow.engine.retry import DEFAULT_RETRIES, next_delay
from tenantflow.engine.workspace import Workspaces
from tenantflow.sandbox import (
    Deferred,
    HandlerError,
    LimitHit,
    Mounts,
    RunControl,
    RunResult,
    Sandbox,
    nonblocking,
)
from tenantflow.sandbox.interpreter import Handler

log = logging.getLogger(__name__)

GUEST_ENTRY = "tenantflow.guest.workflow:serve"


@dataclass(frozen=True, slots=True)
class RunKey:
    """What instances sharing one sandbox run have in common."""

    tenant_id: str
    workflow: str
    code_hash: str

    @property
    def pool_key(self) -> str:
        """Warm interpreters are kept per tenant and code version."""
        return f"wf:{self.tenant_id}:{self.workflow}:{self.code_hash}"


class RunScope:
    """Given to ``extra_handlers``: the run's key and the instance it is serving now."""

    def __init__(self, key: RunKey) -> None:
        self.key = key
        self.instance_id: str | None = None


ExtraHandlers = Callable[[RunScope], Mapping[str, Handler]]


@dataclass(slots=True)
class _Current:
    claim: Claim
    logs: list[LogEntry] = field(default_factory=list)
    step: dict[str, Any] | None = None
    lost: bool = False
    hibernated: bool = False  # the lease was given up by a sleep, wait or retry back-off
    # Until the guest reaches the journal's last step it re-runs code whose output an
    # earlier run stored: that output is dropped (replay-aware logging, as in Temporal).
    replaying: bool = False
    # An instance's first run lets the guest skip announcing steps with the default timeout
    # (one frame fewer per step); a replay announces every step, so a timeout is always
    # pinned on the right step (see ``_settle_interrupted``).
    announce: bool = True


def _shutting_down(_released: Future[None] | None) -> NoReturn:
    raise HandlerError("worker is shutting down", type="LeaseLost")


class Run:
    """Feeds claimed instances to one guest and turns its commands into journal writes."""

    def __init__(
        self,
        key: RunKey,
        journal: Journal,
        settings: Settings,
        workspaces: Workspaces,
        *,
        on_released: Callable[[Lease], None],
        extra_handlers: ExtraHandlers | None = None,
    ) -> None:
        self.key = key
        self._journal = journal
        self._settings = settings
        self._workspaces = workspaces
        self._on_released = on_released
        self._extra = extra_handlers
        self._queue: deque[Claim] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self.draining = False
        self._current: _Current | None = None
        self._run_dir = workspaces.new_run_dir(key.tenant_id)
        self.control = RunControl()
        self.scope = RunScope(key)

    # -- feeding (event loop side) ---------------------------------------------

    def offer(self, claim: Claim) -> bool:
        """Queue ``claim`` behind this run; False if the run is closing or full."""
        with self._lock:
            if self._closed or len(self._queue) >= self._settings.worker_run_queue:
                return False
            self._queue.append(claim)
            return True

    def lost(self, lease: Lease) -> None:
        """``lease`` was taken away: drop its instance, or stop the guest running it."""
        with self._lock:
            for claim in list(self._queue):
                if claim.lease == lease:
                    self._queue.remove(claim)
                    self._on_released(lease)
            current = self._current
            if current is not None and current.claim.lease == lease and not current.hibernated:
                current.lost = True
                self.control.stop()

    def take_all(self) -> list[Claim]:
        """Close the run and return the claims it had not started."""
        with self._lock:
            self._closed = True
            claims = list(self._queue)
            self._queue.clear()
        return claims

    def drain(self) -> None:
        """Shutdown: hand out no more instances; the current one stops at its next step."""
        self.draining = True

    def stop(self) -> None:
        """Stop the guest now."""
        self.draining = True
        self.control.stop()

    # -- the sandbox run -------------------------------------------------------

    async def execute(self, sandbox: Sandbox, code_dir: Path) -> None:
        """Run the guest until the queue is empty; release whatever it could not finish."""
        handlers: dict[str, Handler] = dict(self._extra(self.scope)) if self._extra else {}
        handlers.update(
            {
                "wf.next": self._next,
                "wf.start": self._start,
                "wf.live": self._live,
                "wf.commit": self._commit,
                "wf.fail": self._fail,
                "wf.sleep": self._sleep,
                "wf.wait": self._wait,
            }
        )
        limits = sandbox.default_limits.with_(wall_seconds=self._settings.engine_run_wall_seconds)
        result: RunResult | None = None
        try:
            result = await sandbox.run(
                entry=GUEST_ENTRY,
                mounts=Mounts(workspace=self._run_dir, code=code_dir),
                limits=limits,
                handlers=handlers,
                pool_key=self.key.pool_key,
                on_output=self._output,
                control=self.control,
            )
        finally:
            with self._lock:
                self._closed = True
                leftover = list(self._queue)
                self._queue.clear()
            await asyncio.to_thread(self._after_run, result, leftover)

    def _after_run(self, result: RunResult | None, leftover: list[Claim]) -> None:
        current = self._current
        if current is not None:
            self._give_back(current)
            self._settle_interrupted(current, result)
            self._end_instance(current)
        for claim in leftover:
            try:
                self._journal.release(claim.lease, ())
            except Exception:
                log.exception("could not release %s; its lease will expire", claim.instance_id)
            self._on_released(claim.lease)
        self._workspaces.discard_run_dir(self._run_dir)

    def _settle_interrupted(self, current: _Current, result: RunResult | None) -> None:
        """The guest ended inside an instance: a step timeout, a stop, or a crash."""
        lease = current.claim.lease
        step = current.step
        try:
            if current.lost:
                return
            timed_out = (
                result is not None
                and result.limit is LimitHit.DEADLINE
                and step is not None
                and self.control.deadline_reason == "step"
                and not self.draining
            )
            if timed_out and step is not None:
                error = {
                    "type": "StepTimeout",
                    "message": f"step {step['name']!r} timed out after {step['timeout']:g} s",
                    "traceback": "",
                }
                delay = next_delay(step["retries"], step["attempt"])
                retry_at = None if delay is None else time.time() + delay
                self._journal.fail_step(
                    lease, step["seq"], step["name"], step["attempt"], step["started"], error,
                    retry_at, current.logs,
                )  # fmt: skip
                if retry_at is None:  # replay raises StepError at this step
                    self._journal.release(lease, ())
                return
            between = self.control.deadline_reason == "between"
            deadline = result is not None and result.limit is LimitHit.DEADLINE
            if deadline and between and not current.announce:
                # A step with the default timeout may have been running unannounced: replay
                # with every step announced, which tells a step timeout (retried by its
                # policy) from workflow code stuck outside any step.
                log.info("%s ran past the step timeout; replaying it with announced steps",
                         lease.instance_id)  # fmt: skip
                self._journal.release(lease, current.logs)
                return
            if (
                result is None
                or self.draining
                or (result.limit is LimitHit.DEADLINE and not between)
            ):
                self._journal.release(lease, current.logs)  # not the workflow's fault: replay
                return
            if result.limit is LimitHit.DEADLINE:
                seconds = self._settings.engine_step_timeout_seconds
                message = f"workflow code ran {seconds:g} s outside any step"
                error = {"type": "WorkflowTimeout", "message": message, "traceback": ""}
                self._journal.finish(lease, None, error, current.logs)
                return
            error_info = result.error
            error = {
                "type": error_info.type if error_info else "GuestExited",
                "message": error_info.message if error_info else "the sandbox ended",
                "traceback": error_info.traceback if error_info else "",
            }
            self._journal.finish(lease, None, error, current.logs)
        except LeaseLost:
            pass
        except Exception:
            log.exception("could not settle %s; its lease will expire", lease.instance_id)

    # -- handlers (sandbox thread) ---------------------------------------------

    def _output(self, stream: str, text: str) -> None:
        current = self._current
        if current is not None and not current.replaying:
            seq = current.step["seq"] if current.step else None
            current.logs.append(LogEntry(seq, stream, text, time.time()))

    def _between_steps(self) -> None:
        self.control.limit_for(self._settings.engine_step_timeout_seconds, "between")

    def _take_logs(self, current: _Current) -> list[LogEntry]:
        logs, current.logs = current.logs, []
        return logs

    def _step_logs(self, current: _Current, seq: int) -> list[LogEntry]:
        logs = self._take_logs(current)
        if current.step is None:
            # An unannounced step: the guest announces any step with output before it, so
            # everything since the last journal write is this step's output.
            logs = [LogEntry(seq, e.stream, e.text, e.at) if e.seq is None else e for e in logs]
        return logs

    def _lease(self) -> tuple[_Current, Lease]:
        current = self._current
        if current is None:
            raise HandlerError("no instance is running", type="ProtocolError")
        return current, current.claim.lease

    def _journal_call(self, current: _Current, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except LeaseLost as exc:
            current.lost = True
            raise HandlerError(str(exc), type="LeaseLost") from None
        except Exception:
            # The database failed (or the commit's outcome is unknown): abandon the instance
            # without finishing it; its lease expires and a replay finds what was committed.
            log.exception("journal write failed for %s", current.claim.instance_id)
            current.lost = True
            raise HandlerError("the journal is unavailable", type="JournalUnavailable") from None

    def _give_back(self, current: _Current) -> None:
        # Before the outcome is durable: whoever sees the instance finished sees its files home.
        self._workspaces.give_back(self.key.tenant_id, current.claim.instance_id, self._run_dir)

    def _end_instance(self, current: _Current) -> None:
        self._current = None
        self.scope.instance_id = None
        self._on_released(current.claim.lease)

    def _next(self, outcome: dict[str, Any] | None = None) -> dict[str, Any] | None:
        current = self._current
        if current is not None:
            self._give_back(current)
            self._settle(current, outcome or {})
            self._end_instance(current)
        with self._lock:
            if self.draining or not self._queue:
                self._closed = True
                return None
            claim = self._queue.popleft()
        self._current = _Current(
            claim, replaying=bool(claim.journal), announce=claim.lease.run_gen > 1
        )
        self.scope.instance_id = claim.instance_id
        self._workspaces.lend(self.key.tenant_id, claim.instance_id, self._run_dir)
        self._between_steps()
        return {
            "id": claim.instance_id,
            "event": claim.event,
            "journal": claim.journal,
            "module": ENTRY_MODULE,
            "cwd": f"/workspace/{claim.instance_id}",
            "max_bytes": self._settings.engine_max_payload_bytes,
            "step_timeout": self._settings.engine_step_timeout_seconds,
            "event_timeout": self._settings.engine_event_timeout_seconds,
            "announce": self._current.announce,
        }

    def _settle(self, current: _Current, outcome: dict[str, Any]) -> None:
        status = outcome.get("status")
        lease = current.claim.lease
        logs = self._take_logs(current)
        try:
            if status == "complete":
                output = str(outcome.get("output"))
                if len(output.encode()) > self._settings.engine_max_payload_bytes:
                    error = {"type": "ResultTooLarge", "message": "workflow result over the cap"}
                    self._journal.finish(lease, None, error, logs)
                else:
                    self._journal.finish(lease, output, None, logs)
            elif status == "errored":
                raw = outcome.get("error")
                error = raw if isinstance(raw, dict) else {"type": "Error", "message": str(raw)}
                self._journal.finish(lease, None, error, logs)
            elif status == "abandoned" and not current.lost:
                self._journal.release(lease, logs)
        except LeaseLost:
            pass
        except Exception:
            log.exception("could not settle %s; its lease will expire", current.claim.instance_id)

    def _live(self) -> None:
        current, _ = self._lease()
        current.replaying = False

    def _start(
        self, seq: int, name: str, attempt: int, timeout: float | None,
        retries: dict[str, Any] | None,
    ) -> None:  # fmt: skip
        current, _ = self._lease()
        seconds = self._settings.engine_step_timeout_seconds if timeout is None else float(timeout)
        current.step = {
            "seq": seq, "name": name, "attempt": attempt, "timeout": seconds,
            "retries": retries or DEFAULT_RETRIES, "started": time.time(),
        }  # fmt: skip
        self.control.limit_for(seconds, "step")

    @nonblocking
    def _commit(self, seq: int, name: str, attempt: int, started: float, output: str) -> Deferred:
        """The step is done: the reply goes out when its commit settles, and no thread waits
        for it meanwhile (the hot path)."""
        current, lease = self._lease()
        size = len(output.encode("utf-8", "surrogatepass"))
        if size > self._settings.engine_max_payload_bytes:
            raise HandlerError(
                f"step {name!r} result is {size} bytes, over the cap", type="TooLarge"
            )
        logs = self._step_logs(current, seq)
        current.step = None
        committing = self._journal_call(current, lambda: self._journal.commit_step_later(
            lease, seq, name, attempt, started, output, logs))  # fmt: skip

        def committed(done: Future[None]) -> Deferred | None:
            self._journal_call(current, done.result)
            self._between_steps()
            if not self.draining:
                return None
            # Shutdown: the step is durable; hand the instance back at this boundary.
            current.lost = True
            try:
                return Deferred(self._journal.release_later(lease, ()), _shutting_down)
            except Exception:
                return _shutting_down(None)  # the lease expires instead

        return Deferred(committing, committed)

    def _fail(
        self,
        seq: int,
        name: str,
        attempt: int,
        started: float,
        error: dict[str, Any],
        retryable: bool,
        retries: dict[str, Any] | None,
    ) -> dict[str, Any]:
        current, lease = self._lease()
        delay = next_delay(retries or DEFAULT_RETRIES, attempt) if retryable else None
        retry_at = None if delay is None else time.time() + delay
        logs = self._step_logs(current, seq)
        current.step = None
        self._journal_call(current, lambda: self._journal.fail_step(
            lease, seq, name, attempt, started, error, retry_at, logs))  # fmt: skip
        self._between_steps()
        current.hibernated = retry_at is not None
        return {"retry": retry_at is not None}

    def _sleep(self, seq: int, name: str, wake_at: float | None) -> dict[str, Any]:
        current, lease = self._lease()
        logs = self._take_logs(current)
        done = self._journal_call(
            current, lambda: self._journal.sleep(lease, seq, name, wake_at, logs)
        )
        self._between_steps()
        current.hibernated = not done
        return {"done": bool(done)}

    def _wait(self, seq: int, name: str, type: str, timeout_at: float | None) -> dict[str, Any]:
        current, lease = self._lease()
        logs = self._take_logs(current)
        outcome = self._journal_call(
            current, lambda: self._journal.wait(lease, seq, name, type, timeout_at, logs)
        )
        self._between_steps()
        if outcome.event is not None:
            return {"event": outcome.event}
        if outcome.timed_out:
            return {"timeout": f"no {type!r} event arrived before the timeout"}
        current.hibernated = True
        return {}
