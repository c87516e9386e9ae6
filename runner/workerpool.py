"""The supervised backend's worker processes: starting them, replacing them, stopping them.

:class:`WorkerPool` keeps the workers of one sweep: it starts them (forked from a server that
has imported torch, or spawned: :mod:`~scratchlab.runner.workerstart`), adopts the worker the
command line started early (:func:`~scratchlab.runner.workerproc.start_early`), tops the pool
up as workers retire or die, and stops each one with its whole process group
(:func:`~scratchlab.runner.workerproc.stop_worker`). A plugin whose import crashes a worker is
left out of the next workers by name; workers that die before they are ready, with no plugin to
blame, :data:`START_ATTEMPTS` times in a row stop the sweep with :class:`WorkerStartError`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from scratchlab.runner.sweeping import SweepError
from scratchlab.runner.worker import WorkerOptions, memory_headroom
from scratchlab.runner.workerproc import (
    WorkerHandle,
    crash_description,
    exit_description,
    start_worker,
    stop_worker,
    take_early,
)
from scratchlab.runner.workerstart import driver_environ, worker_context

#: workers dying before they are ready this many times in a row stop the sweep
START_ATTEMPTS = 3
#: seconds idle workers get to exit when the sweep closes, before they are killed
CLOSE_WAIT = 0.5


class WorkerStartError(SweepError):
    """Worker processes die before they are ready, and no plugin import is to blame (a plugin
    whose import crashes is left out instead); the message is one line."""


class WorkerPool:
    """The worker processes of one sweep (see the module's docstring)."""

    def __init__(
        self, modules: Sequence[str], *, max_runs: int | None, warn: Callable[[str], None]
    ) -> None:
        self.modules = tuple(modules)
        self.max_runs = max_runs  # a worker retires after this many runs
        self.warn = warn
        self.workers: list[WorkerHandle] = []
        self.headroom: int | None = None  # bytes each worker may allocate (set by :meth:`open`)
        self.blocked: dict[str, str] = {}  # plugin -> how it crashed workers on import
        self.devices: tuple[str, ...] = ("cpu",)  # what the runs use (set by :meth:`open`)
        self._folder: Path | None = None
        self._count = 0
        self._failed_starts = 0

    def __iter__(self) -> Iterator[WorkerHandle]:
        return iter(list(self.workers))

    def open(self, devices: Sequence[str]) -> None:
        """Before the first worker: set the memory limit for ``devices``' runs and adopt the
        worker started early, if it fits."""
        self.headroom = memory_headroom(devices)
        self.devices = tuple(devices)
        self._adopt_early(devices)

    def _adopt_early(self, devices: Sequence[str]) -> None:
        """Take over the worker :func:`~scratchlab.runner.workerproc.start_early` started, if it
        fits this sweep (the same plugins and limits, and a CPU sweep: its memory limit is a CPU
        one); otherwise stop it."""
        early = take_early(self.modules, self.max_runs)
        if early is None:
            return
        worker, folder = early
        if all(d.startswith("cpu") for d in devices):
            self.workers.append(worker)
            self._folder, self._count = folder, 1
        else:
            stop_worker(worker)
            shutil.rmtree(folder, ignore_errors=True)

    def spawn(self) -> None:
        """Start one more worker (it says ready when it has loaded everything)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="scratchlab-workers-"))
        self._count += 1
        options = WorkerOptions(
            self.modules,
            str(self._folder / f"worker-{self._count}.log"),
            self.headroom,
            self.max_runs,
            frozenset(self.blocked),
            driver_environ(),
        )
        context = worker_context(self.devices)
        self.workers.append(start_worker(context, options, self._count))

    def top_up(self, wanted: int) -> None:
        """Start workers until ``wanted`` of them are not retiring."""
        # a retiring worker's replacement starts at once, while it finishes exiting
        while sum(not w.retiring for w in self.workers) < wanted:
            self.spawn()

    def ready(self, worker: WorkerHandle) -> None:
        """``worker`` has loaded everything: runs may go to it."""
        worker.ready = True
        self._failed_starts = 0

    def discard(self, worker: WorkerHandle) -> None:
        """Stop ``worker`` and what its runs started (its process group), and forget it."""
        self.workers.remove(worker)
        stop_worker(worker)

    def start_failed(self, worker: WorkerHandle, code: int | None, tail: str) -> None:
        """``worker`` died before it was ready, with exit code ``code`` and last output ``tail``:
        leave out the plugin it was importing, if any; else count it (and give up after
        :data:`START_ATTEMPTS` in a row)."""
        if worker.loading is not None:
            # one plugin crashes the process on import: leave it out, fail its runs, go on
            self.blocked[worker.loading] = crash_description(code)
            self.warn(
                f"plugin {worker.loading!r} crashed a worker process on import"
                f" ({crash_description(code)}); its runs fail, the others run without it"
            )
            return
        self._failed_starts += 1
        if self._failed_starts >= START_ATTEMPTS:
            last = tail.strip().splitlines()[-1:] if tail.strip() else []
            said = f"; its last output: {last[0].strip()[:300]}" if last else ""
            raise WorkerStartError(
                f"worker processes die before they are ready: {exit_description(code)}{said}"
            )

    def close(self) -> None:
        """Stop every worker and remove their output files."""
        for worker in self.workers:
            if worker.task is None:
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)
        # an idle worker holds nothing: it gets a moment to exit, then it is killed
        deadline = time.monotonic() + CLOSE_WAIT
        for worker in list(self.workers):
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self.discard(worker)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
