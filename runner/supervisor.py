"""Supervised worker processes: a run's plugin code cannot take the sweep down.

:class:`SupervisedBackend` is the default way a sweep executes. It keeps a
pool of long-lived worker processes (started with ``spawn`` once per sweep,
each importing torch and loading the plugins before it says it is ready) and
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
alone: it waits until nothing else runs and every worker is started, and
nothing starts beside it; ``auto`` gives it every usable core. The queue runs
shared runs first, slowest-looking first (a matmul strategy with a smaller
``max_madds`` is slower), then the exclusive ones.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner.execute import (
    Items,
    StartedCallback,
    auto_threads,
    failed_result,
    grace_period,
    run_threads,
)
from scratchlab.runner.live import LiveSink
from scratchlab.runner.sweeping import SweepError
from scratchlab.runner.worker import WorkerOptions, memory_headroom
from scratchlab.runner.workerproc import (
    WorkerHandle,
    crash_description,
    exit_description,
    start_worker,
    take_early,
)

#: a run is sent ahead to a busy worker when a run of its kind (see :func:`run_kind`)
#: took less than this many seconds earlier in the sweep ...
SEND_AHEAD_BELOW = 1.0
#: ... and at most this many per worker (one when that run took more than a tenth of that)
SEND_AHEAD_MAX = 4
#: a worker output file is emptied between runs once it is larger than this
OUTPUT_RESET_BYTES = 1 << 20
#: workers dying before they are ready this many times in a row stop the sweep
START_ATTEMPTS = 3
#: seconds idle workers get to exit when the sweep closes, before they are killed
CLOSE_WAIT = 0.5


def cost_hints(registry: Any, planned: PlannedRun) -> dict[str, float]:
    """The run's components that declare a cost hint, by name: ``max_madds``, the largest
    problem a component is fit for (a matmul strategy's; smaller is slower). Which category
    declares one does not matter: a plugin's component type may carry a ``max_madds`` too."""
    hints = {}
    for category, name in sorted(planned.components.items()):
        hint = getattr(registry.get(category, name).component, "max_madds", None)
        if hint is not None:
            hints[name] = float(hint)
    return hints


def run_kind(planned: PlannedRun, hints: dict[str, float]) -> tuple[str, tuple[str, ...]]:
    """Runs that take about as long as each other: one experiment with the same components
    that carry a cost hint (those are what make a run slow: the elementwise matmul loops
    over every output element in Python, torch's takes milliseconds)."""
    return planned.experiment, tuple(hints)


class WorkerStartError(SweepError):
    """Worker processes die before they are ready, and no plugin import is to blame (a plugin
    whose import crashes is left out instead); the message is one line."""


# --------------------------------------------------------------------------- the driver's side


@dataclass
class _Task:
    run_id: int
    planned: PlannedRun
    threads: int
    cores: int  # cores it holds while it runs
    alone: bool  # exclusive: nothing else runs beside it
    kind: tuple[str, tuple[str, ...]] = ("", ())  # see run_kind
    slowness: float = float("inf")  # smaller is slower: the smallest cost hint


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
        self._blocked: dict[str, str] = {}  # plugin -> how it crashed workers on import
        self.warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
        self.poll = 0.5  # seconds between checks for overdue runs
        self._context = multiprocessing.get_context(
            "spawn"
        )  # torch's thread pools do not survive a fork
        self._workers: list[WorkerHandle] = []
        self._folder: Path | None = None
        self._headroom: int | None = None
        self._failed_starts = 0
        self._count = 0
        self._queue: deque[_Task] = deque()
        self._timeout: float | None = None
        self._live: LiveSink | None = None
        self._begun: list[
            int
        ] = []  # runs sent ahead that have started since the driver last looked
        self._seconds: dict[
            tuple[str, str | None], float
        ] = {}  # how long the last run of each kind took

    def describe(self) -> dict[str, Any]:
        """How runs execute, for the sweep's environment record."""
        return {
            "backend": "supervised",
            "workers": self.size,
            "max_runs_per_worker": self.max_runs,
            "usable_cpus": self.cores,
            "torch_threads": {"shared": max(1, self.cores // self.size), "exclusive": self.cores},
            # set when the workers start: MemAvailable then, or $SCRATCHLAB_WORKER_MEMORY; none for accelerators
            "memory_headroom_bytes": self._headroom if self._workers else memory_headroom(("cpu",)),
        }

    def auto_threads(self, exclusive: bool) -> int:
        """The torch threads an ``auto`` run gets here (see :func:`execute.auto_threads`)."""
        return auto_threads(exclusive=exclusive, cores=self.cores, workers=self.size)

    # -- the queue ---------------------------------------------------------

    def _exclusive(self, planned: PlannedRun) -> bool:
        return bool(
            getattr(
                self.plugins.registry.get("experiment", planned.experiment).component,
                "exclusive",
                False,
            )
        )

    def tasks(self, items: Items) -> list[_Task]:
        """``items`` as tasks in the order they run: shared runs slowest-looking first, then exclusive ones."""
        tasks = []
        for run_id, planned in items:
            alone = self._exclusive(planned)
            threads = run_threads(planned, exclusive=alone, cores=self.cores, workers=self.size)
            hints = cost_hints(self.plugins.registry, planned)
            tasks.append(
                _Task(
                    run_id,
                    planned,
                    threads,
                    min(threads, self.cores),
                    alone,
                    run_kind(planned, hints),
                    min(hints.values(), default=float("inf")),
                )
            )
        order = {id(t): i for i, t in enumerate(tasks)}
        return sorted(tasks, key=lambda t: (t.alone, t.slowness, order[id(t)]))

    # -- workers -----------------------------------------------------------

    def _spawn(self) -> None:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="scratchlab-workers-"))
        self._count += 1
        options = WorkerOptions(
            self.modules,
            str(self._folder / f"worker-{self._count}.log"),
            self._headroom,
            self.max_runs,
            frozenset(self._blocked),
        )
        self._workers.append(start_worker(self._context, options, self._count))

    def _adopt_early(self, devices: Sequence[str]) -> None:
        """Take over the worker :func:`~scratchlab.runner.workerproc.start_early` started, if it
        fits this sweep (the same plugins and limits, and a CPU sweep: its memory limit is a CPU
        one); otherwise stop it."""
        early = take_early(self.modules, self.max_runs)
        if early is None:
            return
        worker, folder = early
        if all(d.startswith("cpu") for d in devices):
            self._workers.append(worker)
            self._folder, self._count = folder, 1
        else:
            worker.process.kill()
            worker.process.join(timeout=5)
            shutil.rmtree(folder, ignore_errors=True)

    def _discard(self, worker: WorkerHandle, *, kill: bool) -> None:
        self._workers.remove(worker)
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        if worker.process.pid is not None:
            # what its runs started (a child left running) goes with it: the worker leads its group
            with contextlib.suppress(OSError):
                os.killpg(worker.process.pid, signal.SIGKILL)

    def _top_up(self, wanted: int) -> None:
        # a retiring worker's replacement starts at once, while it finishes exiting
        while sum(not w.retiring for w in self._workers) < wanted:
            self._spawn()

    # -- handing out -------------------------------------------------------

    def _dispatch(self, queue: deque[_Task]) -> list[int]:
        """Hand the head of the queue to idle workers while it fits beside what runs; the run ids handed out."""
        handed: list[int] = []
        while queue:
            busy = [w for w in self._workers if w.task is not None]
            idle = [w for w in self._workers if w.task is None and w.ready]
            if not idle or any(w.task.alone for w in busy):
                break
            task = queue[0]
            if task.alone:
                # alone means alone: no run and no starting worker beside it
                if busy or not all(w.ready for w in self._workers):
                    break
            elif busy and sum(w.task.cores for w in busy) + task.cores > self.cores:
                break
            queue.popleft()
            worker = idle[0]
            with contextlib.suppress(OSError):
                worker.offset = worker.output.stat().st_size
                if worker.offset > OUTPUT_RESET_BYTES:
                    os.truncate(worker.output, 0)  # the worker appends, so it writes at the new end
                    worker.offset = 0
            worker.task, worker.since, worker.started_at = task, time.monotonic(), datetime.now(UTC)
            worker.conn.send(self._message(task))
            handed.append(task.run_id)
        self._send_ahead(queue)
        return handed

    def _send_ahead(self, queue: deque[_Task]) -> None:
        """While runs are short, put the next run in each busy worker's pipe, so that it starts
        it without waiting for the driver (on a loaded machine every wake-up of the driver costs
        milliseconds). Only a shared run with the same cores as the one it follows, so the core
        count and exclusivity hold; only where both are of a kind (:func:`run_kind`) seen to take
        under :data:`SEND_AHEAD_BELOW`, so that no run waits behind a long one."""
        for worker in self._workers:
            while queue and not queue[0].alone:
                task = queue[0]
                # only runs known to be short, behind runs known to be short: a run queued behind
                # a long one waits there while another worker idles (the main job's elementwise
                # training runs, 12 s each, ended up two in one worker's pipe)
                if not self._short(task):
                    return
                depth = SEND_AHEAD_MAX if self._seconds[task.kind] < SEND_AHEAD_BELOW / 10 else 1
                if (
                    len(worker.queued) >= depth
                    or worker.task is None
                    or worker.retiring
                    or worker.task.alone
                    or worker.task.cores != task.cores
                    or not self._short(worker.task)
                ):
                    break
                queue.popleft()
                worker.queued.append(task)
                worker.conn.send(self._message(task))

    def _message(self, task: _Task) -> tuple:
        """What a worker gets for ``task``: the run, its timeout, threads and live options."""
        live = None if self._live is None else self._live.options(task.run_id)
        return (task.planned, self._timeout, task.threads, live)

    def _short(self, task: _Task) -> bool:
        """Whether a run of ``task``'s kind took under :data:`SEND_AHEAD_BELOW` earlier in the sweep."""
        seconds = self._seconds.get(task.kind)
        return seconds is not None and seconds <= SEND_AHEAD_BELOW

    def _requeue(self, worker: WorkerHandle, queue: deque[_Task]) -> None:
        """Put a run that was sent ahead to a worker that is gone back at the head of the queue."""
        while worker.queued:
            queue.appendleft(worker.queued.pop())

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
                worker.ready = True
                self._failed_starts = 0
                continue
            if message[0] == "loading":
                worker.loading = message[1]
                continue
            if message[0] in ("metrics", "report"):
                self._live_message(worker, message)
                continue
            _, result, retire, size, note = message
            task, worker.task = worker.task, None
            now = time.monotonic()
            if task is not None:
                self._seconds[task.kind] = now - worker.since
                if result.status not in ("done", "skipped"):
                    result.reason = _with_output(result.reason or result.status, worker.tail())
            if retire:
                worker.ready = False  # nothing more is handed to it; its exit is expected
                worker.retiring = True
                self._requeue(worker, self._queue)
            elif worker.queued:
                # the next run sent ahead starts now: its clock, its output and its "running" mark
                worker.task = worker.queued.popleft()
                worker.since, worker.started_at, worker.offset = now, datetime.now(UTC), size
                self._begun.append(worker.task.run_id)
            if task is not None:
                out.append((task.run_id, result))
                if note is not None:
                    self.warn(f"run {task.run_id} ({task.planned.experiment}): {note}")
        return out

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
        self._requeue(worker, self._queue)
        self._discard(worker, kill=True)
        if task is not None:
            reason = f"{exit_description(code)} during the run; a new worker took its place"
            return [(task.run_id, failed_result(_with_output(reason, tail), worker.started_at))]
        if not was_ready and worker.loading is not None:
            # one plugin crashes the process on import: leave it out, fail its runs, go on
            self._blocked[worker.loading] = crash_description(code)
            self.warn(
                f"plugin {worker.loading!r} crashed a worker process on import"
                f" ({crash_description(code)}); its runs fail, the others run without it"
            )
            return []
        if not was_ready:
            self._failed_starts += 1
            if self._failed_starts >= START_ATTEMPTS:
                last = tail.strip().splitlines()[-1:] if tail.strip() else []
                said = f"; its last output: {last[0].strip()[:300]}" if last else ""
                raise WorkerStartError(
                    f"worker processes die before they are ready: {exit_description(code)}{said}"
                )
        return []

    def _overdue(self, limit: float) -> list[tuple[int, RunResult]]:
        """Kill workers whose run outlived ``limit`` seconds; those runs time out."""
        out = []
        now = time.monotonic()
        for worker in [w for w in self._workers if w.task is not None and now - w.since > limit]:
            task, tail = worker.task, worker.tail()
            self._requeue(worker, self._queue)
            self._discard(worker, kill=True)
            reason = (
                f"timed out: the run did not stop within --timeout {self._timeout:g}s plus"
                f" {grace_period(self._timeout):.1f}s grace (it did not heed its time budget); its worker"
                " process was killed and replaced, so nothing this run recorded was kept"
            )
            out.append(
                (
                    task.run_id,
                    failed_result(_with_output(reason, tail), worker.started_at, status="timeout"),
                )
            )
        return out

    def _collect(self, limit: float | None) -> list[tuple[int, RunResult]]:
        waitables = {}
        for worker in self._workers:
            waitables[worker.conn] = worker
            waitables[worker.process.sentinel] = worker
        wait = self.poll
        if limit is not None:
            ages = [time.monotonic() - w.since for w in self._workers if w.task is not None]
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

    def _refuse_blocked(self, queue: deque[_Task]) -> list[tuple[int, RunResult]]:
        """Take the runs that need a plugin which crashed workers on import out of ``queue``,
        failed with one line that says so."""
        if not self._blocked:
            return []
        out, kept = [], deque()
        for task in queue:
            plugin = self._plugin_of(task.planned)
            if plugin is None:
                kept.append(task)
                continue
            reason = (
                f"plugin {plugin!r} crashed the worker process on import ({self._blocked[plugin]}),"
                " so no worker has it; its runs cannot run"
            )
            out.append((task.run_id, failed_result(reason)))
        queue.clear()
        queue.extend(kept)
        return out

    def _plugin_of(self, planned: PlannedRun) -> str | None:
        """The blocked plugin ``planned`` needs (its experiment's or a component's), or None."""
        registry = self.plugins.registry
        for category, name in [("experiment", planned.experiment), *planned.components.items()]:
            with contextlib.suppress(LookupError):
                plugin = registry.get(category, name).plugin
                if plugin in self._blocked:
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
        queue = self._queue = deque(self.tasks(items))
        seen = len(items)
        self._begun = []
        if not self._workers:
            devices = sorted({t.planned.device for t in queue})
            self._headroom = memory_headroom(devices)
            self._adopt_early(devices)
        finished = False
        try:
            while True:
                if len(items) > seen:  # added since: a search asked for more trials
                    queue.extend(self.tasks(items[seen:]))
                    seen = len(items)
                running = sum(w.task is not None for w in self._workers)
                if not queue and not running:
                    break
                # all tasks alone: one worker is enough; never more workers than runs left
                wanted = 1 if all(t.alone for t in queue) else min(self.size, len(queue) + running)
                self._top_up(max(wanted, running))
                refused = self._refuse_blocked(queue)
                if refused:
                    started([run_id for run_id, _ in refused])
                    yield from refused
                handed = self._dispatch(queue)
                if handed:
                    started(handed)
                out = self._collect(limit)
                if self._begun:  # before their results, which may be in ``out`` already
                    started(self._begun)
                    self._begun = []
                yield from out
            finished = True
        finally:
            if not finished:
                for worker in [w for w in self._workers if w.task is not None]:
                    self._discard(worker, kill=True)  # its run is marked interrupted by the driver

    def close(self) -> None:
        """Stop every worker and remove their output files."""
        for worker in list(self._workers):
            if worker.task is None:
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)
        # an idle worker holds nothing: it gets a moment to exit, then it is killed
        deadline = time.monotonic() + CLOSE_WAIT
        for worker in list(self._workers):
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self._discard(worker, kill=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
