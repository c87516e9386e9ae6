"""Executing a sweep's runs: the driver, and what every backend shares.

The driver (:func:`execute_sweep`) is the only process that writes to the
database: it marks each run ``running`` when it is handed out, writes each
result in one transaction as it comes back, fires the observer hooks, and
keeps the progress display. A *backend* only turns runs into results:

- :class:`~scratchlab.runner.supervisor.SupervisedBackend` (the default):
  supervised worker processes, where a plugin that exits or crashes costs one run;
- :class:`~scratchlab.runner.inline.InlineBackend` calls :func:`~scratchlab.runner.run_one.run_experiment`
  in this process, one run after another (for pdb; the timeout is a SIGALRM there);
- :class:`~scratchlab.runner.daskbackend.DaskBackend`: a local or an existing Dask cluster.

Ctrl-C, SIGTERM and SIGHUP stop the sweep between database writes (never
inside one): the runs in flight become ``interrupted`` and the sweep is
finished as interrupted. torch is imported only inside the functions that
need it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from scratchlab.core.records import FINAL_STATUSES, PlannedRun, RunResult
from scratchlab.runner.live import LiveOptions
from scratchlab.runner.reporting import SweepReporter

if TYPE_CHECKING:
    from scratchlab.db.store import Store
    from scratchlab.runner.backends import Backend

#: (run_id, planned run) pairs, in the order they should run
Items = Sequence[tuple[int, PlannedRun]]
#: called with the run ids a backend has just handed out
StartedCallback = Callable[[list[int]], None]


def _now() -> datetime:
    return datetime.now(UTC)


#: characters of a run's reason that are stored and shown; a longer one keeps its head and tail
REASON_LIMIT = 64 * 1024


def bounded_reason(reason: str | None, limit: int = REASON_LIMIT) -> str | None:
    """``reason`` cut to about ``limit`` characters (its first three quarters and its last
    quarter, where a traceback says where and what), with a line that says how much was cut."""
    if reason is None or len(reason) <= limit:
        return reason
    head, tail = reason[: limit * 3 // 4], reason[len(reason) - limit // 4 :]
    cut = len(reason) - len(head) - len(tail)
    return f"{head}\n[... {cut:,} characters cut: the reason had {len(reason):,} ...]\n{tail}"


def failed_result(
    reason: str, started_at: datetime | None = None, status: str = "failed"
) -> RunResult:
    """A result for a run that produced nothing (the worker died, or was stopped)."""
    return RunResult(
        status=status, reason=reason, started_at=started_at or _now(), finished_at=_now()
    )


# --------------------------------------------------------------------------- interrupts


#: signals that stop a sweep the way Ctrl-C does: runs in flight interrupted, the sweep resumable
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def signal_text(signum: int) -> str:
    """``"Ctrl-C"`` for SIGINT, else the signal's name (``"SIGTERM"``)."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class InterruptGuard:
    """Turns SIGINT, SIGTERM and SIGHUP into ``KeyboardInterrupt`` except inside
    :meth:`deferred` blocks, where it is held until the block ends, so a database
    write is never cut in half. ``signum`` is the first such signal received.

    Outside the main thread (where signals cannot be handled) it does nothing.
    """

    def __init__(self) -> None:
        self.hit = False
        self.signum: int | None = None
        self._deferring = 0
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.hit = True
        if self.signum is None:
            self.signum = signum
        if not self._deferring:
            raise KeyboardInterrupt

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            # None: the old handler was not set from Python; the default is the best we can do
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous = {}

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold SIGINT for the duration of the block; raise it afterwards."""
        with self.ignored():
            yield
        if self.hit and not self._deferring:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def ignored(self) -> Iterator[None]:
        """Ignore further SIGINTs (while cleaning up after the first one)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1


# --------------------------------------------------------------------------- observer hooks


class HookCaller:
    """Calls the observer hooks one implementation at a time, so that one
    plugin's exception is a warning (shown once per plugin and hook) and the
    others still run."""

    def __init__(self, plugins: Any, warn: Callable[[str], None]) -> None:
        self.plugins = plugins
        self.warn = warn
        self._warned: set[tuple[str, str]] = set()

    def __call__(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name`` with the arguments it asks for."""
        caller = getattr(self.plugins.hook, hook_name)
        # pluggy calls the last registered first; keep that order
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue  # observer hooks have nothing to wrap
            try:
                impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                key = (impl.plugin_name, hook_name)
                if key not in self._warned:
                    self._warned.add(key)
                    self.warn(
                        f"plugin {impl.plugin_name!r}: {hook_name} hook failed: {type(exc).__name__}: {exc}"
                        " (further failures of this hook are not shown)"
                    )


def run_payload(run_id: int, run: PlannedRun) -> dict[str, Any]:
    """A planned run as the observer hooks receive it."""
    payload = asdict(run)
    payload.pop("component_versions", None)
    return {"run_id": run_id, **payload}


# --------------------------------------------------------------------------- backends


def auto_threads(*, exclusive: bool, cores: int, workers: int) -> int:
    """What ``auto`` torch threads are: every usable core for a run that runs alone (an
    exclusive run, or one worker), an equal share (cores // workers, at least 1) otherwise."""
    return cores if exclusive or workers <= 1 else max(1, cores // workers)


def run_threads(planned: PlannedRun, *, exclusive: bool, cores: int, workers: int) -> int:
    """The torch thread count a run gets: its ``threads`` setting, or :func:`auto_threads`."""
    threads = getattr(planned, "threads", None)
    if threads:
        return int(threads)
    return auto_threads(exclusive=exclusive, cores=cores, workers=workers)


def missing_on_worker(plugins: Any, planned: PlannedRun) -> str | None:
    """Why this worker cannot run ``planned`` (a component it does not have), or None."""
    wanted = [("experiment", planned.experiment), *planned.components.items()]
    names = {(c, n) for c, n in wanted if n not in plugins.registry.names(c)}
    if not names:
        return None
    failures = "; ".join(f"{i.name}: {i.error}" for i in plugins.failures) or "none"
    missing = ", ".join(f"{c} {n!r}" for c, n in sorted(names))
    return f"this worker has no {missing} (plugins that failed to load here: {failures})"


def grace_period(timeout: float) -> float:
    """Extra seconds the driver waits for a worker's own (cooperative) timeout."""
    return max(2.0, 0.1 * timeout)


class DaskUnavailable(RuntimeError):
    """dask.distributed is not installed, or the cluster cannot be reached or started."""


# --------------------------------------------------------------------------- the driver


class Feed(Protocol):
    """More runs as results come in, and verdicts on reported values: a search
    (:class:`~scratchlab.runner.search.SearchDriver`)."""

    def judged(self, run_id: int) -> tuple[str, ...]:
        """The metric names whose reported values :meth:`judge` judges in run ``run_id``."""

    def observe(self, run_id: int, records: Sequence[Any]) -> None:
        """A metric batch of running run ``run_id``, just stored."""

    def judge(self, run_id: int, name: str, step: int, value: float) -> str | None:
        """A reason to stop run ``run_id`` at this reported value, or None."""

    def more(self, run_id: int, planned: PlannedRun, result: RunResult) -> list[tuple[int, Any]]:
        """Runs to add (already stored) now that ``run_id`` has its stored result."""


class StoreSink:
    """The driver's :class:`~scratchlab.runner.live.LiveSink`: stores running runs' metric
    batches (never cut in half by Ctrl-C) and asks the feed, if any, for verdicts."""

    def __init__(self, store: Any, guard: InterruptGuard, feed: Feed | None = None) -> None:
        self.store, self.guard, self.feed = store, guard, feed
        self.streamed: set[int] = set()  # runs with metrics stored while they ran

    def options(self, run_id: int) -> LiveOptions:
        """Batches for every run; verdicts on what the feed judges."""
        return LiveOptions(judged=self.feed.judged(run_id) if self.feed is not None else ())

    def metrics(self, run_id: int, records: Sequence[Any]) -> None:
        """Store a batch (the run's first replaces what an earlier attempt left)."""
        with self.guard.deferred():
            self.store.stream_metrics(run_id, list(records), first=run_id not in self.streamed)
        self.streamed.add(run_id)
        if self.feed is not None:
            self.feed.observe(run_id, records)

    def judge(self, run_id: int, name: str, step: int, value: float) -> str | None:
        """The feed's verdict (None without a feed)."""
        return None if self.feed is None else self.feed.judge(run_id, name, step, value)


@dataclass
class RoundOutcome:
    """How one round of executing runs ended: a sweep runs one round, and one more per
    ``--retry-noisy`` round. :class:`scratchlab.runner.sweeping.SweepOutcome` is what the
    whole invocation tells its caller."""

    status: str  # "done", "failed" or "interrupted"
    interrupted: bool
    stopped_early: bool  # --fail-fast stopped it
    signum: int | None = None  # the signal that interrupted it (SIGINT, SIGTERM, SIGHUP)


def sweep_status(counts: Mapping[str, int], interrupted: bool) -> str:
    """The sweep's final status from its runs' statuses."""
    if interrupted:
        return "interrupted"
    if any(counts.get(s, 0) for s in ("failed", "timeout", "interrupted", "pending", "running")):
        return "failed"
    return "done"


def execute_sweep(
    store: Store,
    sweep: Mapping[str, Any],
    items: Items,
    backend: Backend,
    *,
    hooks: HookCaller,
    reporter: SweepReporter,
    timeout: float | None = None,
    fail_fast: bool = False,
    feed: Feed | None = None,
) -> RoundOutcome:
    """Run ``items`` (already stored as runs of ``sweep``) on ``backend``,
    writing every result as it arrives, and finish the sweep. Running runs'
    metrics are stored in batches as they come; a ``feed`` (a search) adds runs
    as results come in and judges reported values. ``reporter`` keeps a ``tally``
    (:class:`~scratchlab.runner.reporting.Tally`), which counts runs left interrupted.

    Returns how it ended; a Ctrl-C is caught here and reported as
    ``interrupted`` (after the runs in flight are marked so), never raised.
    """
    interrupted = stopped_early = False
    with InterruptGuard() as guard:
        round_ = _Round(store, sweep, items, guard, hooks, reporter, feed)
        results = backend.results(round_.items, round_.started, timeout, round_.sink)
        try:
            for run_id, result in results:
                if guard.hit:  # the run saw Ctrl-C but turned it into a result
                    raise KeyboardInterrupt
                planned = round_.record(run_id, result)
                if fail_fast and result.status in ("failed", "timeout"):
                    stopped_early = True
                    break
                round_.more(run_id, planned, result)
        except KeyboardInterrupt:
            interrupted = True
            reason = f"interrupted by {signal_text(guard.signum or signal.SIGINT)}"
        except BaseException as exc:
            reason = f"the sweep stopped: {type(exc).__name__}: {exc}"
            raise
        else:
            reason = "stopped by --fail-fast"
        finally:
            with guard.ignored():
                results.close()  # a Dask backend cancels what is still in flight
                reporter.stop()
                status = round_.finish(reason, interrupted)
    return RoundOutcome(
        status=status,
        interrupted=interrupted,
        stopped_early=stopped_early,
        signum=guard.signum if interrupted else None,
    )


class _Round:
    """The driver's side of one round of :func:`execute_sweep`: the runs handed out and not
    back yet, and what happens to each one's result."""

    def __init__(
        self,
        store: Store,
        sweep: Mapping[str, Any],
        items: Items,
        guard: InterruptGuard,
        hooks: HookCaller,
        reporter: Any,
        feed: Feed | None,
    ) -> None:
        self.store, self.sweep, self.guard = store, sweep, guard
        self.hooks, self.reporter, self.feed = hooks, reporter, feed
        self.items = list(items)  # the backend reads this list as it grows
        self.planned = dict(self.items)
        self.running: dict[int, PlannedRun] = {}
        self.sink = StoreSink(store, guard, feed)

    def started(self, run_ids: list[int]) -> None:
        """The backend handed ``run_ids`` out: mark them running (a whole write)."""
        with self.guard.deferred():
            self.store.mark_running(run_ids)
        for run_id in run_ids:
            self.running[run_id] = self.planned[run_id]
            self.reporter.run_started(self.running[run_id])

    def record(self, run_id: int, result: RunResult) -> PlannedRun:
        """Write one run's result (never cut in half by Ctrl-C), show it, tell the hooks."""
        planned = self.running.pop(run_id)
        result.reason = bounded_reason(result.reason)  # a 20 MB message is not kept whole
        with self.guard.deferred():
            self.store.write_result(run_id, result, streamed=run_id in self.sink.streamed)
        self.reporter.run_finished(planned, result)
        run = run_payload(run_id, planned)
        self.hooks("run_finished", sweep=dict(self.sweep), run=run, result=result)
        return planned

    def more(self, run_id: int, planned: PlannedRun, result: RunResult) -> None:
        """Add the runs the feed (a search) asks for now that ``run_id`` has its result."""
        if self.feed is not None:
            added = self.feed.more(run_id, planned, result)
            self.items.extend(added)
            self.planned.update(added)

    def finish(self, reason: str, interrupted: bool) -> str:
        """End the round: the runs still running become interrupted (for ``reason``), the
        sweep gets its status from its runs', and the hooks hear of it; the status."""
        sweep_id = self.sweep["sweep_id"]
        if self.running:
            self.store.mark_status(list(self.running), "interrupted", reason=reason)
            for planned in self.running.values():
                self.reporter.tally.add(planned, "interrupted")
        counts = status_counts(self.store, sweep_id)
        status = sweep_status(counts, interrupted)
        self.store.finish_sweep(sweep_id, status)
        self.hooks("sweep_finished", sweep=dict(self.sweep), counts=counts)
        return status


def status_counts(store: Store, sweep_id: int) -> dict[str, int]:
    """Number of the sweep's runs in each status."""
    counts: dict[str, int] = {}
    for row in store.sweep_runs(sweep_id):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def unfinished(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Stored runs that ``--resume`` runs again: every one not done or skipped."""
    return [r for r in rows if r["status"] not in FINAL_STATUSES]
