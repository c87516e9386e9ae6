"""Supervised worker processes: a run's plugin code cannot take the sweep down.

:class:`SupervisedBackend` is the default way a sweep executes. It keeps a
pool of long-lived worker processes (forked from a server that has imported
torch, or spawned: :mod:`~scratchlab.runner.workerstart`; each loads the
plugins before it says it is ready) and
hands each one run at a time over a pipe; the worker sends the
:class:`~scratchlab.core.records.RunResult` back and the driver, the single
database writer, stores it. What a plugin does to its own process stays there:

- ``os._exit``, a segfault, SIGKILL from the kernel's OOM killer: the driver
  sees the worker die, stores the run as ``failed`` with the exit code or
  signal and the tail of the run's output (stdout and stderr go to a file per
  worker; ``faulthandler`` writes a crash's Python stack there), and starts a
  replacement;
- ``sys.exit`` and ``KeyboardInterrupt`` raised by the run: ``failed`` with the
  traceback (Ctrl-C at the terminal is the driver's to handle: workers ignore
  SIGINT);
- a run that ignores its time budget (catches ``Exception`` around a loop):
  the driver kills the worker ``--timeout`` plus a grace period after it
  handed the run out, and stores ``timeout``;
- a run that allocates more than its worker's memory limit (``RLIMIT_AS``,
  see :func:`memory_headroom`): ``failed`` with a first line that says
  ``out of memory``; that worker is replaced, since a process that hit its
  address-space limit may be left half-broken.
- a run that changes its process: what can be restored is, after the run
  (:mod:`~scratchlab.runner.isolation`); a run that leaves what cannot be (a
  patched function, a thread, a child process, memory) retires its worker,
  and the run's reason says what it changed; children die with their
  worker's process group;
- a plugin whose import crashes the worker: left out of the next workers by
  name, its runs fail with one line, the others run.

Scheduling: the pool has one worker per usable core by default. A run holds
as many cores as it has torch threads (``auto``: usable cores // workers) and
is started only when they are free, so workers never oversubscribe the CPU.
A run of an experiment declared ``exclusive`` (its results are timings) runs
alone; ``auto`` gives it every usable core. The order and the rules are the
queue's (:mod:`~scratchlab.runner.workqueue`); starting, replacing and stopping
workers is the pool's (:mod:`~scratchlab.runner.workerpool`). This module is
the loop between them: it hands runs out, reads what workers send, and turns
a worker's death or an overdue run into that run's result.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import wait as wait_for
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner.execute import (
    Items,
    StartedCallback,
    auto_threads,
    failed_result,
    grace_period,
)
from scratchlab.runner.live import LiveSink
from scratchlab.runner.worker import memory_headroom
from scratchlab.runner.workerpool import WorkerPool
from scratchlab.runner.workerproc import WorkerHandle, exit_description
from scratchlab.runner.workqueue import Task, WorkQueue, make_tasks


def _with_output(reason: str, tail: str) -> str:
    return f"{reason}\n--- the run's last output ---\n{tail}" if tail else reason


class SupervisedBackend:
    """Runs on a pool of supervised worker processes (see the module's docstring)."""

    name = "supervised"

    def __init__(
        self,
        plugins: Any,
        modules: Sequence[str],
        *,
        workers: int | None = None,
        max_runs: int | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        from scratchlab.runner.environment import usable_cpus

        self.plugins = plugins
        self.modules = tuple(modules)
        self.cores = usable_cpus()
        self.size = max(1, workers or self.cores)
        self.max_runs = max_runs  # a worker retires after this many runs
        self.warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
        self.poll = 0.5  # seconds between checks for overdue runs
        self._pool = WorkerPool(self.modules, max_runs=max_runs, warn=self.warn)
        self._queue = WorkQueue(self.cores)
        self._timeout: float | None = None
        self._live: LiveSink | None = None
        self._begun: list[int] = []  # runs sent ahead that started since the driver last looked

    def describe(self) -> dict[str, Any]:
        """How runs execute, for the sweep's environment record."""
        started = bool(self._pool.workers)
        return {
            "backend": "supervised",
            "workers": self.size,
            "max_runs_per_worker": self.max_runs,
            "usable_cpus": self.cores,
            "torch_threads": {"shared": max(1, self.cores // self.size), "exclusive": self.cores},
            # set when the workers start: MemAvailable then, or $SCRATCHLAB_WORKER_MEMORY; none for accelerators
            "memory_headroom_bytes": self._pool.headroom if started else memory_headroom(("cpu",)),
        }

    def auto_threads(self, exclusive: bool) -> int:
        """The torch threads an ``auto`` run gets here (see :func:`execute.auto_threads`)."""
        return auto_threads(exclusive=exclusive, cores=self.cores, workers=self.size)

    def torch_environment(self) -> dict[str, Any]:
        """torch's version, threads and devices as a worker forked here sees them: the driver
        of a supervised sweep need not import torch at all."""
        from scratchlab.runner.environment import torch_environment_forked

        return torch_environment_forked()

    def tasks(self, items: Items) -> list[Task]:
        """``items`` as tasks in the order they run (:func:`~scratchlab.runner.workqueue.make_tasks`)."""
        return make_tasks(self.plugins.registry, items, cores=self.cores, workers=self.size)

    def _message(self, task: Task) -> tuple:
        """What a worker gets for ``task``: the run, its timeout, threads and live options."""
        live = None if self._live is None else self._live.options(task.run_id)
        return (task.planned, self._timeout, task.threads, live)

    # -- collecting --------------------------------------------------------

    def _receive(self, worker: WorkerHandle) -> list[tuple[int, RunResult]]:
        """Read what ``worker`` has sent; a result comes back as ``(run_id, result)``."""
        out = []
        while True:
            try:
                if not worker.conn.poll():
                    break
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "ready":
                self._pool.ready(worker)
            elif message[0] == "loading":
                worker.loading = message[1]
            elif message[0] in ("metrics", "report"):
                self._live_message(worker, message)
            else:
                out.extend(self._result(worker, message))
        return out

    def _result(self, worker: WorkerHandle, message: tuple) -> list[tuple[int, RunResult]]:
        """A run's result from ``worker``; the run sent ahead behind it, if any, starts now."""
        _, result, retire, size, note = message
        task, worker.task = worker.task, None
        now = time.monotonic()
        if task is not None:
            self._queue.took(task, now - worker.since)
            if result.status not in ("done", "skipped"):
                result.reason = _with_output(result.reason or result.status, worker.tail())
        if retire:
            worker.ready = False  # nothing more is handed to it; its exit is expected
            worker.retiring = True
            self._queue.requeue(worker)
        elif worker.queued:
            # the next run sent ahead starts now: its clock, its output and its "running" mark
            worker.task = worker.queued.popleft()
            worker.since, worker.started_at, worker.offset = now, datetime.now(UTC), size
            self._begun.append(worker.task.run_id)
        if task is None:
            return []
        if note is not None:
            self.warn(f"run {task.run_id} ({task.planned.experiment}): {note}")
        return [(task.run_id, result)]

    def _live_message(self, worker: WorkerHandle, message: tuple) -> None:
        """A running run's metric batch (stored by the sink) or reported value (answered with
        the sink's verdict); see :mod:`scratchlab.runner.live`."""
        if worker.task is None or self._live is None:
            return
        if message[0] == "metrics":
            self._live.metrics(worker.task.run_id, message[1])
            return
        _, name, step, value = message
        verdict = self._live.judge(worker.task.run_id, name, step, value)
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(("verdict", verdict))

    def _died(self, worker: WorkerHandle) -> list[tuple[int, RunResult]]:
        """Handle a worker that is gone: its run, if it had one, failed; a start failure is counted."""
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        task, tail = worker.task, worker.tail()
        was_ready = worker.ready or worker.retiring
        self._queue.requeue(worker)
        self._pool.discard(worker)
        if task is not None:
            reason = f"{exit_description(code)} during the run; a new worker took its place"
            return [(task.run_id, failed_result(_with_output(reason, tail), worker.started_at))]
        if not was_ready:
            self._pool.start_failed(worker, code, tail)
        return []

    def _overdue(self, limit: float) -> list[tuple[int, RunResult]]:
        """Kill workers whose run outlived ``limit`` seconds; those runs time out."""
        out = []
        now = time.monotonic()
        for worker in [w for w in self._pool if w.task is not None and now - w.since > limit]:
            task, tail = worker.task, worker.tail()
            self._queue.requeue(worker)
            self._pool.discard(worker)
            reason = (
                f"timed out: the run did not stop within --timeout {self._timeout:g}s plus"
                f" {grace_period(self._timeout):.1f}s grace (it did not heed its time budget); its worker"
                " process was killed and replaced, so nothing this run recorded was kept"
            )
            result = failed_result(_with_output(reason, tail), worker.started_at, status="timeout")
            out.append((task.run_id, result))
        return out

    def _collect(self, limit: float | None) -> list[tuple[int, RunResult]]:
        """Wait (up to :attr:`poll` seconds, less when a run is nearly overdue) for what the
        workers send or for one to die; the results that came of it."""
        waitables = {}
        for worker in self._pool:
            waitables[worker.conn] = worker
            waitables[worker.process.sentinel] = worker
        wait = self.poll
        if limit is not None:
            ages = [time.monotonic() - w.since for w in self._pool if w.task is not None]
            if ages:
                wait = min(wait, max(0.0, limit - max(ages)) + 0.01)
        ready = {id(waitables[o]): waitables[o] for o in wait_for(list(waitables), timeout=wait)}
        out = []
        for worker in ready.values():
            out.extend(self._receive(worker))
            if not worker.process.is_alive():
                out.extend(self._died(worker))
        if limit is not None:
            out.extend(self._overdue(limit))
        return out

    def _refuse_blocked(self) -> list[tuple[int, RunResult]]:
        """Take the runs that need a plugin which crashed workers on import out of the queue,
        failed with one line that says so."""
        blocked = self._pool.blocked
        if not blocked:
            return []
        out = []
        for task in self._queue.take(lambda t: self._plugin_of(t.planned) is not None):
            plugin = self._plugin_of(task.planned)
            reason = (
                f"plugin {plugin!r} crashed the worker process on import ({blocked[plugin]}),"
                " so no worker has it; its runs cannot run"
            )
            out.append((task.run_id, failed_result(reason)))
        return out

    def _plugin_of(self, planned: PlannedRun) -> str | None:
        """The blocked plugin ``planned`` needs (its experiment's or a component's), or None."""
        registry = self.plugins.registry
        for category, name in [("experiment", planned.experiment), *planned.components.items()]:
            with contextlib.suppress(LookupError):
                plugin = registry.get(category, name).plugin
                if plugin in self._pool.blocked:
                    return plugin
        return None

    # -- the backend interface ---------------------------------------------

    def results(
        self,
        items: Items,
        started: StartedCallback,
        timeout: float | None,
        live: LiveSink | None = None,
    ) -> Iterator[tuple[int, RunResult]]:
        """Yield ``(run_id, result)`` as runs finish; kills the runs in flight when closed early.
        ``items`` may grow while results are read (a search adds trials); ``live`` gets the
        running runs' metric batches and reported values."""
        self._timeout, self._live = timeout, live
        limit = None if timeout is None else timeout + grace_period(timeout)
        queue = self._queue
        queue.restart(self.tasks(items))
        seen = len(items)
        self._begun = []
        if not self._pool.workers:
            self._pool.open(sorted({t.planned.device for t in queue}))
        finished = False
        try:
            while True:
                if len(items) > seen:  # added since: a search asked for more trials
                    queue.add(self.tasks(items[seen:]))
                    seen = len(items)
                running = sum(w.task is not None for w in self._pool)
                if not queue and not running:
                    break
                yield from self._step(started, limit, running)
            finished = True
        finally:
            if not finished:
                for worker in [w for w in self._pool if w.task is not None]:
                    self._pool.discard(worker)  # its run is marked interrupted by the driver

    def _step(
        self, started: StartedCallback, limit: float | None, running: int
    ) -> Iterator[tuple[int, RunResult]]:
        """One turn of :meth:`results`: top the pool up, hand runs out, collect what came back."""
        queue = self._queue
        # all tasks alone: one worker is enough; never more workers than runs left
        wanted = 1 if queue.all_alone() else min(self.size, len(queue) + running)
        self._pool.top_up(max(wanted, running))
        refused = self._refuse_blocked()
        if refused:
            started([run_id for run_id, _ in refused])
            yield from refused
        handed = queue.dispatch(self._pool.workers, self._message)
        if handed:
            started(handed)
        out = self._collect(limit)
        if self._begun:  # before their results, which may be in ``out`` already
            started(self._begun)
            self._begun = []
        yield from out

    def close(self) -> None:
        """Stop every worker and remove their output files."""
        self._pool.close()
