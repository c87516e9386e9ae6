"""Who is running a sweep: its owner (host, pid) and a heartbeat.

The driver of a running sweep records itself as the sweep's owner and a
background thread (:class:`Heartbeat`) refreshes ``sweeps.heartbeat_at``
every :data:`HEARTBEAT_S` seconds. A sweep is *live* while its status is
``running``, its heartbeat is younger than :data:`STALE_AFTER_S`, and (when
the owner is on this host) its process still exists. ``--resume`` of a live
sweep is refused (:class:`~scratchlab.db.errors.SweepInUseError`); a sweep
whose heartbeat stopped (a crash, ``kill -9``, a lost machine) is claimed by
the resuming process, and the runs its dead driver left ``running`` are
marked ``interrupted`` with the reason, so the resume runs them again.

This is Optuna's design (``heartbeat_interval``, ``grace_period`` and
``fail_stale_trials`` in ``optuna.storages``), with one addition: on the same
host a dead owner is recognised at once by its pid, without waiting for the
grace period.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from scratchlab.db import models as m
from scratchlab.db.engine import describe, sqlite_path
from scratchlab.db.errors import DatabaseError, SweepInUseError, SweepNotFoundError
from scratchlab.db.sqltypes import utcnow

log = logging.getLogger(__name__)

#: seconds between two heartbeats of a running sweep's driver
HEARTBEAT_S = 5.0
#: a heartbeat older than this means the driver is gone (six missed beats)
STALE_AFTER_S = 30.0


@dataclass(frozen=True)
class Owner:
    """A process that runs a sweep."""

    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Owner:
        """The calling process."""
        return cls(socket.gethostname(), os.getpid())

    def columns(self) -> dict[str, Any]:
        """The ``sweeps`` columns that record this owner, with a heartbeat now."""
        return {"owner_host": self.host, "owner_pid": self.pid, "heartbeat_at": utcnow()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def live_owner(row: Any, now: datetime | None = None) -> str | None:
    """How to name the live driver of a ``sweeps`` row (``process 12 on host, heartbeat 3s ago``),
    or None when the sweep is not running or its driver is gone."""
    if row.status != "running" or row.heartbeat_at is None:
        return None  # finished, or started before owners were recorded
    age = ((now or utcnow()) - row.heartbeat_at).total_seconds()
    if age > STALE_AFTER_S:
        return None
    here = Owner.this_process()
    if (
        row.owner_host == here.host
        and row.owner_pid is not None
        and (row.owner_pid == here.pid or not _pid_alive(row.owner_pid))
    ):
        return None  # this very process (a leftover claim), or a dead one on this host
    return f"process {row.owner_pid} on {row.owner_host} (last heartbeat {max(age, 0):.0f}s ago)"


def _in_use(sweep_id: int, owner: str) -> SweepInUseError:
    return SweepInUseError(
        f"sweep {sweep_id} is still running in {owner}; wait for it to end or stop it first"
        f" (a sweep whose driver died can be resumed {STALE_AFTER_S:.0f}s after its last heartbeat)"
    )


def _sweep_row(conn: Any, store: Any, sweep_id: int) -> Any:
    cols = m.sweeps.c
    row = conn.execute(
        select(cols.status, cols.owner_host, cols.owner_pid, cols.heartbeat_at).where(
            cols.sweep_id == sweep_id
        )
    ).one_or_none()
    if row is None:
        raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(store.engine.url)}")
    return row


def check_not_live(store: Any, sweep_id: int) -> None:
    """Raise :class:`SweepInUseError` when another process is running ``sweep_id`` (a read only)."""
    with store._read() as conn:
        owner = live_owner(_sweep_row(conn, store, sweep_id))
    if owner is not None:
        raise _in_use(sweep_id, owner)


def claim(store: Any, sweep_id: int, owner: Owner) -> int:
    """Make ``owner`` the driver of stored sweep ``sweep_id``, in one transaction.

    Refuses a live sweep; otherwise marks the runs a dead driver left
    ``running`` as ``interrupted`` (so they run again) and returns how many.
    """
    with store._write() as conn:
        row = _sweep_row(conn, store, sweep_id)
        if (live := live_owner(row)) is not None:
            raise _in_use(sweep_id, live)
        now = utcnow()
        stale = conn.execute(
            update(m.runs)
            .where(m.runs.c.sweep_id == sweep_id, m.runs.c.status == "running")
            .values(
                status="interrupted",
                finished_at=now,
                reason=f"its sweep's driver (process {row.owner_pid} on {row.owner_host}) stopped without"
                " finishing it; run again by --resume",
            )
        ).rowcount
        conn.execute(
            update(m.sweeps)
            .where(m.sweeps.c.sweep_id == sweep_id)
            .values(status="running", **owner.columns())
        )
    return stale


def beat(store: Any, sweep_id: int, owner: Owner) -> bool:
    """Refresh the heartbeat; False when ``owner`` no longer owns the sweep."""
    cols = m.sweeps.c
    with store._write() as conn:
        return (
            conn.execute(
                update(m.sweeps)
                .where(
                    cols.sweep_id == sweep_id,
                    cols.owner_host == owner.host,
                    cols.owner_pid == owner.pid,
                )
                .values(heartbeat_at=utcnow())
            ).rowcount
            == 1
        )


class Heartbeat:
    """A daemon thread that beats for ``sweep_id`` every ``interval`` seconds while the block runs.

    A failed beat (the database was locked past its busy timeout) is logged
    and the next one tried: a missed beat or two is within the grace period.
    """

    def __init__(
        self, store: Any, sweep_id: int, owner: Owner, interval: float = HEARTBEAT_S
    ) -> None:
        self.store, self.sweep_id, self.owner, self.interval = store, sweep_id, owner, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-sweep-{sweep_id}", daemon=True
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not beat(self.store, self.sweep_id, self.owner):
                    log.warning("sweep %s: another process has taken it over", self.sweep_id)
                    return
            except DatabaseError as exc:
                log.warning("sweep %s: heartbeat not written: %s", self.sweep_id, exc)

    def __enter__(self) -> Heartbeat:
        url = self.store.engine.url
        # an in-memory SQLite database is one connection no other process can see: nothing to guard,
        # and a second thread on that connection would interleave with the driver's transactions
        if url.get_backend_name() != "sqlite" or sqlite_path(url) is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
