"""The driver's side of one worker process: starting it, its handle, how it ended.

:func:`start_worker` starts a process running :func:`~scratchlab.runner.worker.worker_main`;
:class:`WorkerHandle` is what the supervisor keeps of it (its pipe, its output file, the run
it holds and those sent ahead). :func:`start_early` starts the first worker of a sweep before
the sweep is planned, so that its imports overlap the driver's; the backend takes it with
:func:`take_early`. :func:`stop_worker` ends a worker and everything its runs started.

A worker leads a process group of its own (``worker_main`` calls ``setpgid``), which every
process its runs start joins, and their children too. :func:`stop_worker` sends SIGKILL to the
whole group at once, so a child that forks while it dies cannot slip out: the kernel fails a
fork that races a group's fatal signal, or delivers it to the new child as well. It then waits,
up to :data:`REAP_WAIT`, until no process of the group is left, not even one waiting to be
reaped (the worker is reaped here; its orphans are reparented to init, which reaps them).
What it cannot catch is a process that leaves the group on purpose (``setsid`` or ``setpgid``,
as a daemon does): that would take a cgroup per worker. The isolation check names such a child
at the end of the run that left it (:mod:`~scratchlab.runner.fingerprint`), while it is still
the worker's child.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import types
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratchlab.runner.worker import WorkerOptions, memory_headroom, worker_main
from scratchlab.runner.workerstart import (
    driver_environ,
    forked,
    forkserver_wanted,
    worker_context,
)

#: lines and characters of a run's output kept in its reason
TAIL_LINES = 25
TAIL_CHARS = 4000
#: a worker output file is emptied between runs once it is larger than this
OUTPUT_RESET_BYTES = 1 << 20
#: seconds :func:`stop_worker` waits for a killed worker's process group to be gone; a bound,
#: not a pause: SIGKILLed processes go in milliseconds unless the kernel holds them (a D state)
REAP_WAIT = 10.0


def exit_description(code: int | None) -> str:
    """How a worker process ended, in words (``code`` is ``Process.exitcode``)."""
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {
            "SIGSEGV": " (a crash in native code)",
            "SIGKILL": " (out of memory, or killed)",
            "SIGABRT": " (aborted by native code)",
            "SIGBUS": " (a crash in native code)",
        }.get(name, "")
        return f"the worker process was killed by {name}{why}"
    return f"the worker process exited with code {code}"


def crash_description(code: int | None) -> str:
    """How a worker that crashed ended, said of "it": ``killed by SIGSEGV (a crash in native code)``."""
    return exit_description(code).removeprefix("the worker process ").removeprefix("was ")


@dataclass
class WorkerHandle:
    process: Any
    conn: Any
    output: Path
    ready: bool = False
    task: Any = None  # the supervisor's task it runs now
    queued: deque[Any] = field(default_factory=deque)  # sent ahead, in the pipe behind ``task``
    since: float = 0.0  # monotonic time the task was handed out
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    offset: int = 0  # output file size when the task was handed out
    retiring: bool = False  # it said it exits after its last result
    loading: str | None = None  # the plugin it was importing when it last said so

    def hand(self, task: Any, message: tuple) -> None:
        """Give ``task`` to this idle worker: its clock and its output start now."""
        with contextlib.suppress(OSError):
            self.offset = self.output.stat().st_size
            if self.offset > OUTPUT_RESET_BYTES:
                os.truncate(self.output, 0)  # the worker appends, so it writes at the new end
                self.offset = 0
        self.task, self.since, self.started_at = task, time.monotonic(), datetime.now(UTC)
        self.conn.send(message)

    def tail(self) -> str:
        """The last lines the worker wrote since its current task was handed out."""
        try:
            with self.output.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(self.offset, size - TAIL_CHARS))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip("\n").splitlines()[-TAIL_LINES:])


# --------------------------------------------------------------------------- starting workers


def start_worker(context: Any, options: WorkerOptions, number: int) -> WorkerHandle:
    """Start one worker process with ``options``; it says ready when it has loaded everything."""
    output = Path(options.output)
    output.touch()
    conn, child = context.Pipe()
    process = context.Process(
        target=worker_main, args=(child, options), name=f"scratchlab-worker-{number}", daemon=True
    )
    with caller_main_hidden():
        process.start()
    forked(context, process)
    child.close()
    return WorkerHandle(process, conn, output)


@contextlib.contextmanager
def caller_main_hidden() -> Iterator[None]:
    """Hide the caller's ``__main__`` while a worker is spawned, so the worker never runs it.

    ``spawn`` and the forkserver re-import the parent's main module in the child (by its file
    or its module name, from the preparation data). A worker needs nothing from it (it runs
    :func:`worker_main` and imports plugins by name), and re-running it is harmful: a script that calls ``sl.sweep`` without an
    ``if __name__ == "__main__":`` guard would start a new sweep, stored in the user's
    database, inside every worker; a main module that cannot be imported again (a Streamlit
    page, an interactive session's stand-in) would kill the worker before it is ready.
    ``Process.start`` reads the main module synchronously, so hiding it for that call is enough.
    """
    caller = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if caller is not None:
            sys.modules["__main__"] = caller


#: the worker :func:`start_early` started, until a backend adopts it: (worker, options, folder)
_EARLY: dict[str, tuple[WorkerHandle, WorkerOptions, Path]] = {}


def start_early(modules: Sequence[str], *, max_runs: int | None = None) -> None:
    """Get the first worker of a sweep about to be planned under way, so that its import of
    torch overlaps the driver's planning and a one-run sweep costs little more than
    ``--inline``. Where workers are forked, that is the forkserver: started now (without
    waiting for it), it imports torch while this process plans, and each worker is then a fork
    of it. Elsewhere one worker is spawned now: the first :class:`SupervisedBackend` with the
    same plugins and limits adopts it; if none does, it is stopped when this process exits. It
    assumes CPU runs (the memory limit); a sweep on an accelerator stops it and starts its own."""
    stop_early()  # one a sweep that stopped before running left behind
    if forkserver_wanted():
        worker_context()
        return
    try:
        headroom = memory_headroom(("cpu",))
    except ValueError:
        return  # a bad $SCRATCHLAB_WORKER_MEMORY: the sweep itself says so
    folder = Path(tempfile.mkdtemp(prefix="scratchlab-workers-"))
    options = WorkerOptions(
        tuple(modules), str(folder / "worker-1.log"), headroom, max_runs, environ=driver_environ()
    )
    # the forkserver only if it is up: waiting for its import of torch would undo the overlap
    context = worker_context(started_only=True)
    _EARLY["worker"] = (start_worker(context, options, 1), options, folder)
    atexit.unregister(stop_early)
    atexit.register(stop_early)


def stop_early() -> None:
    """Stop the worker :func:`start_early` started, if no backend took it (the sweep ended
    before it ran anything: a usage error, nothing to run)."""
    early = _EARLY.pop("worker", None)
    if early is not None:
        _stop(early)


def take_early(modules: Sequence[str], max_runs: int | None) -> tuple[WorkerHandle, Path] | None:
    """The worker :func:`start_early` started and its output folder, if it was started with
    ``modules`` and ``max_runs``; None otherwise (one that does not fit is stopped)."""
    early = _EARLY.pop("worker", None)
    if early is None:
        return None
    worker, options, folder = early
    if (options.modules, options.max_runs) == (tuple(modules), max_runs):
        return worker, folder
    _stop(early)
    return None


def _stop(early: tuple[WorkerHandle, WorkerOptions, Path]) -> None:
    stop_worker(early[0])
    shutil.rmtree(early[2], ignore_errors=True)


# --------------------------------------------------------------------------- stopping workers


def stop_worker(worker: WorkerHandle, wait: float = REAP_WAIT) -> None:
    """Kill ``worker`` and every process of its process group, reap the worker, close its pipe,
    and wait (up to ``wait`` seconds) until the group is gone (see the module's docstring)."""
    pid = worker.process.pid
    if pid is not None:
        _kill_group(pid)
        if worker.process.is_alive():
            worker.process.kill()  # still starting: not in a group of its own yet
    worker.process.join(timeout=wait)
    with contextlib.suppress(OSError):
        worker.conn.close()
    if pid is None:
        return
    # the group outlives its leader while a member is alive or unreaped, and while it exists its
    # id names no one else: killing it again (a member that was mid-fork) is safe
    deadline = time.monotonic() + wait
    while _kill_group(pid) and time.monotonic() < deadline:
        _reap_group(pid)
        time.sleep(0.01)


def _kill_group(pgid: int) -> bool:
    """SIGKILL to process group ``pgid``; whether the group still had a process in it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # ESRCH: gone; EPERM: the id is someone else's now
        return False
    return True


def _reap_group(pgid: int) -> None:
    """Reap the group's dead processes that are this process's children: its orphans, when
    this process is init (a driver that is PID 1 in a container) or a subreaper; elsewhere
    init reaps them."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-pgid, os.WNOHANG)[0]:
            pass
