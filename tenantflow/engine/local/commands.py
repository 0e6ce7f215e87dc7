"""The guest's commands as SQL, written once for SQLite and Postgres.

Each function runs inside one transaction given as a :class:`Tx`; the
SQLite journal drives it with a raw ``sqlite3`` connection on the sandbox
thread, the Postgres journal with a SQLAlchemy connection. Every write is
fenced: it happens only if the caller's lease (owner and ``run_gen``) is
still current, otherwise :class:`LeaseLost` is raised and the transaction
rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from tenantflow.engine.backend import Lease, LogEntry, WaitOutcome
from tenantflow.engine.errors import LeaseLost


class Tx(Protocol):
    """One open transaction."""

    def execute(self, sql: str, params: dict[str, Any]) -> int:
        """Run a statement; returns the number of rows changed."""

    def fetchone(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """First row of a query."""

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """Run a statement once per parameter set."""


_FENCE = (
    "EXISTS (SELECT 1 FROM wf_instances WHERE id = :iid AND lease_owner = :owner"
    " AND run_gen = :gen)"
)
_UPSERT_STEP = f"""
INSERT INTO wf_steps (instance_id, seq, name, kind, status, attempts, started_at, ended_at,
                      wake_at, output, error)
SELECT CAST(:iid AS TEXT), CAST(:seq AS INTEGER), CAST(:name AS TEXT), CAST(:kind AS TEXT),
  CAST(:status AS TEXT), CAST(:attempts AS INTEGER), CAST(:started AS DOUBLE PRECISION),
  CAST(:ended AS DOUBLE PRECISION), CAST(:wake_at AS DOUBLE PRECISION), CAST(:output AS TEXT),
  CAST(:error AS TEXT)
WHERE {_FENCE}
ON CONFLICT (instance_id, seq) DO UPDATE SET
  status = excluded.status, attempts = excluded.attempts, ended_at = excluded.ended_at,
  wake_at = excluded.wake_at, output = excluded.output, error = excluded.error
"""
_HIBERNATE = """
UPDATE wf_instances SET status = :status, ready_at = :ready_at, wait_event_type = :wait_type,
  lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
WHERE id = :iid AND lease_owner = :owner AND run_gen = :gen
"""
_TOUCH = """
UPDATE wf_instances SET updated_at = :now
WHERE id = :iid AND lease_owner = :owner AND run_gen = :gen
"""
_FINISH = """
UPDATE wf_instances SET status = :status, output = :output, error = :error, ended_at = :now,
  updated_at = :now, ready_at = NULL, wait_event_type = NULL, lease_owner = NULL,
  lease_expires_at = NULL
WHERE id = :iid AND lease_owner = :owner AND run_gen = :gen
"""
_RELEASE = """
UPDATE wf_instances SET status = 'queued', ready_at = :ready_at, lease_owner = NULL,
  lease_expires_at = NULL, updated_at = :now
WHERE id = :iid AND lease_owner = :owner AND run_gen = :gen
"""
_LOG = """
INSERT INTO wf_logs (instance_id, seq, stream, text, created_at)
VALUES (:iid, :seq, :stream, :text, :at)
"""


def _fence(lease: Lease) -> dict[str, Any]:
    return {"iid": lease.instance_id, "owner": lease.owner, "gen": lease.run_gen}


def _lost(lease: Lease) -> LeaseLost:
    return LeaseLost(f"instance {lease.instance_id} is no longer held by this runner")


def write_logs(tx: Tx, lease: Lease, logs: Sequence[LogEntry]) -> None:
    """Append buffered guest output."""
    if logs:
        rows = [
            {"iid": lease.instance_id, "seq": e.seq, "stream": e.stream, "text": e.text, "at": e.at}
            for e in logs
        ]
        tx.executemany(_LOG, rows)


def upsert_step(
    tx: Tx,
    lease: Lease,
    seq: int,
    name: str,
    kind: str,
    status: str,
    *,
    attempts: int = 1,
    started: float | None = None,
    ended: float | None = None,
    wake_at: float | None = None,
    output: str | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Insert or update a journal entry, only while ``lease`` holds."""
    params = _fence(lease)
    params.update(
        seq=seq, name=name, kind=kind, status=status, attempts=attempts, started=started,
        ended=ended, wake_at=wake_at, output=output,
        error=None if error is None else json.dumps(error),
    )  # fmt: skip
    if tx.execute(_UPSERT_STEP, params) == 0:
        raise _lost(lease)


def hibernate(
    tx: Tx, lease: Lease, status: str, ready_at: float | None, now: float, wait_type: str | None
) -> None:
    """Give up the lease until ``ready_at`` (``None``: until an event or an operator)."""
    params = _fence(lease)
    params.update(status=status, ready_at=ready_at, now=now, wait_type=wait_type)
    if tx.execute(_HIBERNATE, params) == 0:
        raise _lost(lease)


def commit_step(
    tx: Tx,
    lease: Lease,
    seq: int,
    name: str,
    attempts: int,
    started: float,
    output: str,
    now: float,
) -> None:
    """Step committed."""
    upsert_step(
        tx, lease, seq, name, "do", "complete", attempts=attempts, started=started, ended=now,
        output=output,
    )  # fmt: skip


def fail_step(
    tx: Tx,
    lease: Lease,
    seq: int,
    name: str,
    attempts: int,
    started: float,
    error: dict[str, Any],
    retry_at: float | None,
    now: float,
) -> None:
    """Step failed: an attempt to retry at ``retry_at`` or for good."""
    if retry_at is None:
        upsert_step(
            tx, lease, seq, name, "do", "failed", attempts=attempts, started=started, ended=now,
            error=error,
        )  # fmt: skip
        return
    upsert_step(
        tx, lease, seq, name, "do", "retrying", attempts=attempts, started=started,
        wake_at=retry_at, error=error,
    )  # fmt: skip
    hibernate(tx, lease, "sleeping", retry_at, now, None)


def sleep(tx: Tx, lease: Lease, seq: int, name: str, wake_at: float | None, now: float) -> bool:
    """Sleep until: True if the sleep is already over (the step is then complete)."""
    if wake_at is None:
        row = tx.fetchone(
            "SELECT wake_at FROM wf_steps WHERE instance_id = :iid AND seq = :seq",
            {"iid": lease.instance_id, "seq": seq},
        )
        wake_at = float(row[0]) if row and row[0] is not None else now
        started = None
    else:
        started = now
    if wake_at <= now:
        upsert_step(tx, lease, seq, name, "sleep", "complete", started=started, ended=now,
                    wake_at=wake_at)  # fmt: skip
        return True
    upsert_step(tx, lease, seq, name, "sleep", "sleeping", started=started, wake_at=wake_at)
    hibernate(tx, lease, "sleeping", wake_at, now, None)
    return False


def wait(
    tx: Tx, lease: Lease, seq: int, name: str, type: str, timeout_at: float | None, now: float
) -> WaitOutcome:
    """Wait for event: consume a kept event, time out, or hibernate."""
    # Lock the instance row first: a concurrent send_event then either committed its
    # event before this read, or blocks on the row and wakes the waiting instance after.
    params = _fence(lease)
    params["now"] = now
    if tx.execute(_TOUCH, params) == 0:
        raise _lost(lease)
    started: float | None = now
    if timeout_at is None:
        row = tx.fetchone(
            "SELECT wake_at, started_at FROM wf_steps WHERE instance_id = :iid AND seq = :seq",
            {"iid": lease.instance_id, "seq": seq},
        )
        timeout_at = float(row[0]) if row and row[0] is not None else now
        started = row[1] if row else None
    event = tx.fetchone(
        "SELECT id, payload FROM wf_events WHERE instance_id = :iid AND type = :type"
        " AND consumed_seq IS NULL ORDER BY id LIMIT 1",
        {"iid": lease.instance_id, "type": type},
    )
    if event is not None:
        tx.execute(
            "UPDATE wf_events SET consumed_seq = :seq WHERE id = :id", {"seq": seq, "id": event[0]}
        )
        upsert_step(tx, lease, seq, name, "wait", "complete", started=started, ended=now,
                    wake_at=timeout_at, output=event[1])  # fmt: skip
        return WaitOutcome(event=str(event[1]))
    if timeout_at <= now:
        error = {"type": "EventTimeout", "message": f"no {type!r} event arrived in time"}
        upsert_step(tx, lease, seq, name, "wait", "failed", started=started, ended=now,
                    wake_at=timeout_at, error=error)  # fmt: skip
        return WaitOutcome(timed_out=True)
    upsert_step(tx, lease, seq, name, "wait", "waiting", started=started, wake_at=timeout_at)
    hibernate(tx, lease, "waiting", timeout_at, now, type)
    return WaitOutcome()


def finish(
    tx: Tx, lease: Lease, output: str | None, error: dict[str, Any] | None, now: float
) -> None:
    """Complete (``output``) or fail (``error``) the workflow."""
    params = _fence(lease)
    params.update(
        status="errored" if error is not None else "complete",
        output=output,
        error=None if error is None else json.dumps(error),
        now=now,
    )
    if tx.execute(_FINISH, params) == 0:
        raise _lost(lease)


def release(tx: Tx, lease: Lease, ready_at: float, now: float) -> None:
    """Give the instance back, runnable at ``ready_at``. A lost lease is not an error here."""
    params = _fence(lease)
    params.update(ready_at=ready_at, now=now)
    tx.execute(_RELEASE, params)
