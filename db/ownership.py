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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from scratchlab.db import models as m
from scratchlab.db.dialects import in_memory
from scratchlab.db.engine import describe
from scratchlab.db.errors import DatabaseError, SweepInUseError, SweepNotFoundError
from scratchlab.db.sqltypes import utcnow

if TYPE_CHECKING:
    from scratchlab.db.store import Store

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
    except (OverflowError, ValueError):  # no process can have such an id
        return False
    return True


def process_state(pid: int, since: datetime | None = None) -> str | None:
    """The state of process ``pid`` on this host as ``/proc`` spells it (``R``, ``S``, ``T``
    stopped, ...), ``"?"`` where there is no ``/proc``, or None when it is gone: no such
    process, a zombie, or one that started after ``since`` (the pid was reused)."""
    if not _pid_alive(pid):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return "?"  # no /proc (macOS): alive is all that is known
    # the command name in parentheses may hold spaces: the fields follow its last ")"
    fields = stat[stat.rfind(")") + 2 :].split()
    state, ticks = fields[0], int(fields[19])
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
    if state in ("Z", "X") or (since is not None and started > since.timestamp() + 1):
        return None
    return state


#: what the message on a driver that beats no more but lives says to do, by its state
_PAUSED_HINTS = {
    "T": "it is stopped (SIGSTOP or Ctrl-Z): continue it with `kill -CONT {pid}` (or `fg` in"
    " its shell) and it finishes the sweep itself, or end it with `kill {pid}` and resume then",
    "t": "it is stopped by a debugger: detach it and it goes on, or end it with `kill {pid}`"
    " and resume then",
}
#: the same for any other state: alive, but its heartbeat stopped
_SILENT_HINT = "its heartbeat stopped but it still runs: end it with `kill {pid}` and resume then"


def live_owner(row: Any, now: datetime | None = None) -> str | None:
    """How to name the live driver of a ``sweeps`` row and what to do about it
    (``process 12 on host (last heartbeat 3s ago)``), or None when the sweep is not
    running or its driver is gone.

    On this host the process decides, whatever its heartbeat's age: a driver paused by
    SIGSTOP beats no more but may still be continued and finish its runs, so only its
    end (or a reused pid) frees the sweep. Elsewhere only the heartbeat can tell.
    """
    if row.status != "running" or not isinstance(row.heartbeat_at, datetime):
        return None  # finished, started before owners were recorded, or its heartbeat damaged
    age = max(((now or utcnow()) - row.heartbeat_at).total_seconds(), 0)
    who = f"process {row.owner_pid} on {row.owner_host} (last heartbeat {age:.0f}s ago)"
    here = Owner.this_process()
    if row.owner_host == here.host and row.owner_pid is not None:
        if row.owner_pid == here.pid:
            return None  # this very process (a leftover claim)
        state = process_state(row.owner_pid, since=row.heartbeat_at)
        if state is None:
            return None  # a dead driver on this host: free at once
        if state in _PAUSED_HINTS or age > STALE_AFTER_S:
            hint = _PAUSED_HINTS.get(state, _SILENT_HINT)
            return f"{who}; {hint.format(pid=row.owner_pid)}"
        return who
    return None if age > STALE_AFTER_S else who


def _in_use(sweep_id: int, owner: str) -> SweepInUseError:
    if "; " in owner:  # a paused or silent driver: live_owner said what to do
        return SweepInUseError(f"sweep {sweep_id} is still owned by {owner}")
    return SweepInUseError(
        f"sweep {sweep_id} is still running in {owner}; wait for it to end or stop it first"
        f" (a sweep whose driver died can be resumed {STALE_AFTER_S:.0f}s after its last heartbeat)"
    )


def _sweep_row(conn: Any, store: Store, sweep_id: int) -> Any:
    cols = m.sweeps.c
    row = conn.execute(
        select(cols.status, cols.owner_host, cols.owner_pid, cols.heartbeat_at).where(
            cols.sweep_id == sweep_id
        )
    ).one_or_none()
    if row is None:
        raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(store.engine.url)}")
    return row


def check_not_live(store: Store, sweep_id: int) -> None:
    """Raise :class:`SweepInUseError` when another process is running ``sweep_id`` (a read only)."""
    with store.read() as conn:
        owner = live_owner(_sweep_row(conn, store, sweep_id))
    if owner is not None:
        raise _in_use(sweep_id, owner)


def claim(store: Store, sweep_id: int, owner: Owner) -> int:
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


def beat(store: Store, sweep_id: int, owner: Owner) -> bool:
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
        self, store: Store, sweep_id: int, owner: Owner, interval: float = HEARTBEAT_S
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
        if not in_memory(url):
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
