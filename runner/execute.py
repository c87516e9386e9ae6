"""Executing a sweep's runs: inline in the driver or on Dask workers.

The driver (:func:`execute_sweep`) is the only process that writes to the
database: it marks each run ``running`` when it is handed out, writes each
result in one transaction as it comes back, fires the observer hooks, and
keeps the progress display. A *backend* only turns runs into results:

- :class:`InlineBackend` calls :func:`~scratchlab.runner.context.run_experiment`
  in this process, one run after another (the timeout is a SIGALRM there);
- :class:`DaskBackend` submits runs to a Dask cluster, a ``LocalCluster`` of
  single-threaded worker processes (``--workers N``) or an existing one
  (``--scheduler ADDRESS``). Workers load the plugins once per process and
  return plain :class:`~scratchlab.db.records.RunResult` records. A worker's
  timeout is cooperative (``ctx.check_budget``), so the driver also enforces
  ``--timeout`` plus a grace period: an overdue run is recorded as
  ``timeout`` and its worker process restarted.

Ctrl-C stops the sweep between database writes (never inside one): the runs
in flight become ``interrupted`` and the sweep is finished as interrupted.
torch and dask are imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from scratchlab.db.records import FINAL_STATUSES, PlannedRun, RunResult
from scratchlab.runner.progress import Reporter

log = logging.getLogger(__name__)

#: (run_id, planned run) pairs, in the order they should run
Items = Sequence[tuple[int, PlannedRun]]
#: called with the run ids a backend has just handed out
StartedCallback = Callable[[list[int]], None]


def _now() -> datetime:
    return datetime.now(UTC)


def failed_result(reason: str, started_at: datetime | None = None, status: str = "failed") -> RunResult:
    """A result for a run that produced nothing (the worker died, or was stopped)."""
    return RunResult(status=status, reason=reason, started_at=started_at or _now(), finished_at=_now())


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


def run_threads(planned: PlannedRun, *, exclusive: bool, cores: int, workers: int) -> int:
    """The torch thread count a run gets: its ``threads`` setting, or for ``auto``
    (None) every usable core when it runs alone (an exclusive run, or one worker)
    and an equal share of them (cores // workers, at least 1) when it shares them."""
    threads = getattr(planned, "threads", None)
    if threads:
        return int(threads)
    return cores if exclusive or workers <= 1 else max(1, cores // workers)


def apply_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` unless it is already so (or ``threads`` is None)."""
    import torch

    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class InlineBackend:
    """Runs one run after another in this process (for debugging with pdb: no
    worker process, so a plugin that exits or crashes ends the sweep)."""

    name = "inline"

    def __init__(self, plugins: Any) -> None:
        self.plugins = plugins

    def describe(self) -> dict[str, Any]:
        """How runs execute, for the sweep's environment record."""
        from scratchlab.runner.environment import usable_cpus

        return {"backend": "inline", "usable_cpus": usable_cpus()}

    def results(self, items: Items, started: StartedCallback, timeout: float | None) -> Iterator[tuple[int, RunResult]]:
        """Yield ``(run_id, result)`` for each run, in order."""
        from scratchlab.runner.context import run_experiment
        from scratchlab.runner.environment import usable_cpus

        cores = usable_cpus()
        for run_id, planned in items:
            started([run_id])
            apply_threads(run_threads(planned, exclusive=True, cores=cores, workers=1))
            yield run_id, run_experiment(self.plugins, planned, timeout=timeout)

    def close(self) -> None:
        """Nothing to release."""


@functools.cache
def _worker_plugins(modules: tuple[str, ...]) -> Any:
    # one plugin load per worker process (a restarted worker loads again)
    from scratchlab.plugins.manager import load_plugins

    return load_plugins(modules)


def missing_on_worker(plugins: Any, planned: PlannedRun) -> str | None:
    """Why this worker cannot run ``planned`` (a component it does not have), or None."""
    wanted = [("experiment", planned.experiment), *planned.components.items()]
    names = {(c, n) for c, n in wanted if n not in plugins.registry.names(c)}
    if not names:
        return None
    failures = "; ".join(f"{i.name}: {i.error}" for i in plugins.failures) or "none"
    missing = ", ".join(f"{c} {n!r}" for c, n in sorted(names))
    return f"this worker has no {missing} (plugins that failed to load here: {failures})"


def run_on_worker(
    modules: tuple[str, ...], planned: PlannedRun, timeout: float | None, threads: int | None
) -> RunResult:
    """The Dask task: set torch's thread count, load the plugins (once per process), run."""
    import torch

    from scratchlab.runner.context import run_experiment

    started_at = _now()
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    plugins = _worker_plugins(tuple(modules))
    missing = missing_on_worker(plugins, planned)
    if missing is not None:
        return failed_result(missing, started_at)
    _announce_start()
    try:
        return run_experiment(plugins, planned, timeout=timeout)
    except BaseException as exc:  # KeyboardInterrupt raised by the run: a result, not a traceback on the worker's terminal
        return failed_result(f"the run raised {type(exc).__name__}\n{traceback.format_exc()}", started_at)


#: the Dask event topic a task publishes when its run starts (after the worker's imports)
RUN_STARTED_TOPIC = "scratchlab-run-started"
#: seconds a Dask run may take to start (a cold worker importing torch and the plugins)
#: before the driver counts its timeout from the hand-out instead
START_ALLOWANCE = 120.0


def _announce_start() -> None:
    """Tell the driver this Dask task's run starts now, so its ``--timeout`` clock starts here."""
    with contextlib.suppress(Exception):  # not on a Dask worker, or an old scheduler: the driver copes
        import distributed

        worker = distributed.get_worker()
        worker.log_event(RUN_STARTED_TOPIC, {"key": worker.get_current_task()})


def grace_period(timeout: float) -> float:
    """Extra seconds the driver waits for a worker's own (cooperative) timeout."""
    return max(2.0, 0.1 * timeout)


class DaskUnavailable(RuntimeError):
    """dask.distributed is not installed, or the cluster cannot be reached or started."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DaskUnavailable(
            "--workers and --scheduler need dask.distributed: pip install 'scratchlab[dask]'"
        ) from None
    return distributed


def _probe(address: str) -> None:
    """Fail at once when nothing listens at a TCP scheduler address (the Dask
    client would retry until its connect timeout)."""
    from distributed.comm import get_address_host_port

    scheme = address.partition("://")[0] if "://" in address else "tcp"
    if scheme not in ("tcp", "tls"):
        return  # inproc://, ucx://, ...: let the client judge
    try:
        host, port = get_address_host_port(address)
    except (ValueError, TypeError):
        raise DaskUnavailable(f"{address!r} is not a Dask scheduler address; expected tcp://HOST:PORT") from None
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise DaskUnavailable(f"cannot use the Dask scheduler at {address}: {exc.strerror or exc}") from None


def _quiet_dask_logs() -> None:
    """Keep distributed's INFO chatter (cluster start, worker restarts) off the
    sweep's output unless ``-v`` asked for INFO logs."""
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("distributed").setLevel(logging.ERROR)


@dataclass
class _InFlight:
    run_id: int
    planned: PlannedRun
    since: float  # monotonic time it was handed out (or its worker restarted)
    started_at: datetime
    running_since: float | None = None  # monotonic time its worker said the run started


class DaskBackend:
    """Runs on a Dask cluster; keeps at most one run per worker thread in flight,
    so that a run handed out is a run that is running, and its age is its run time."""

    name = "dask"

    def __init__(
        self,
        client: Any,
        modules: Sequence[str],
        *,
        threads: int | None,
        cluster: Any = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.modules = tuple(modules)
        self.threads = threads
        self.warn = warn or (lambda message: log.warning(message))
        self.poll = 0.2  # seconds between checks for overdue runs
        self._started: dict[Any, float] = {}  # task key -> monotonic time its run started
        with contextlib.suppress(Exception):  # an old distributed: timeouts count from the hand-out
            client.subscribe_topic(RUN_STARTED_TOPIC, self._on_started)

    @classmethod
    def local(cls, n_workers: int, modules: Sequence[str], *, warn: Callable[[str], None] | None = None) -> DaskBackend:
        """Start a ``LocalCluster`` of ``n_workers`` single-threaded processes; torch
        threads are split between them (usable cores // n_workers each)."""
        distributed = _import_distributed()
        import dask

        from scratchlab.runner.environment import usable_cpus

        _quiet_dask_logs()
        try:
            # a run that kills its worker is retried once, then failed (KilledWorker), not tried on every worker
            with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                cluster = distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
        except Exception as exc:
            raise DaskUnavailable(f"could not start a local Dask cluster: {type(exc).__name__}: {exc}") from None
        client = distributed.Client(cluster, set_as_default=False)
        return cls(client, modules, threads=max(1, usable_cpus() // n_workers), cluster=cluster, warn=warn)

    @classmethod
    def connect(cls, address: str, modules: Sequence[str], *, warn: Callable[[str], None] | None = None) -> DaskBackend:
        """Use the existing cluster whose scheduler listens at ``address``; its
        workers keep the torch thread count they were started with."""
        distributed = _import_distributed()
        _quiet_dask_logs()
        _probe(address)
        try:
            client = distributed.Client(address, timeout=10, set_as_default=False)
            client.wait_for_workers(1, timeout=30)
        except Exception as exc:
            raise DaskUnavailable(
                f"cannot use the Dask scheduler at {address}: {type(exc).__name__}: {exc}"
            ) from None
        return cls(client, modules, threads=None, warn=warn)

    def describe(self) -> dict[str, Any]:
        """The cluster's workers and their threads, for the sweep's environment record."""
        info = self.client.scheduler_info()
        return {
            "backend": "dask",
            "scheduler": info.get("address"),
            "local": self.cluster is not None,
            "torch_threads_per_worker": self.threads,
            "workers": {address: w.get("nthreads") for address, w in info.get("workers", {}).items()},
        }

    def _slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _submit(self, run_id: int, planned: PlannedRun, timeout: float | None) -> Any:
        return self.client.submit(
            run_on_worker,
            self.modules,
            planned,
            timeout,
            getattr(planned, "threads", None) or self.threads,
            key=f"run-{run_id}-{uuid.uuid4().hex[:8]}",
            pure=False,
            retries=0,
        )

    def _cancel(self, future: Any) -> list[str]:
        """Cancel an overdue run; return the workers it is stuck on."""
        workers = [w for w, keys in self.client.processing().items() if future.key in keys]
        future.cancel()
        return workers

    def _restart(self, workers: list[str], flight: Mapping[Any, _InFlight]) -> None:
        """Restart the worker processes a cancelled run is stuck in (a thread cannot
        be stopped); runs rescheduled from them start their clock again."""
        if not workers:
            return
        moved = {k for w, keys in self.client.processing().items() if w in workers for k in keys}
        try:
            self.client.restart_workers(workers, timeout=60)
        except Exception as exc:
            self.warn(f"could not restart Dask worker {', '.join(workers)} after a timeout: {exc}")
            return
        for future, entry in flight.items():
            if future.key in moved:
                entry.since, entry.running_since = time.monotonic(), None
                self._started.pop(future.key, None)

    def _on_started(self, event: Any) -> None:
        # called on the client's event-loop thread; a plain dict store is atomic
        _timestamp, message = event
        with contextlib.suppress(Exception):
            self._started[message["key"]] = time.monotonic()

    def _overdue(self, entry: _InFlight, key: Any, limit: float, now: float) -> bool:
        """Whether a run is past ``limit``, counted from when its worker started it (not from
        the hand-out, which a cold worker's imports would count); a run never announced
        counts from the hand-out plus :data:`START_ALLOWANCE`."""
        started = self._started.get(key, entry.running_since)
        if started is not None:
            entry.running_since = started
            return now - started > limit
        return now - entry.since > limit + START_ALLOWANCE

    def results(self, items: Items, started: StartedCallback, timeout: float | None) -> Iterator[tuple[int, RunResult]]:
        """Yield ``(run_id, result)`` as runs finish; cancels what is in flight when closed early."""
        distributed = _import_distributed()
        queue = list(items)[::-1]  # pop() from the end takes them in order
        flight: dict[Any, _InFlight] = {}
        limit = None if timeout is None else timeout + grace_period(timeout)

        def refill() -> None:
            handed: list[int] = []
            while queue and len(flight) < self._slots():
                run_id, planned = queue.pop()
                future = self._submit(run_id, planned, timeout)
                flight[future] = _InFlight(run_id, planned, time.monotonic(), _now())
                handed.append(run_id)
            if handed:
                started(handed)

        try:
            refill()
            while flight:
                try:
                    # wait() looks the client up; ours is not the process-wide default
                    with self.client.as_current():
                        done, _ = distributed.wait(list(flight), timeout=self.poll, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                finished = [(flight.pop(future), future) for future in done]
                refill()  # hand out the next runs before the driver spends time writing results
                for entry, future in finished:
                    yield entry.run_id, self._outcome(future, entry)
                if limit is not None:
                    now = time.monotonic()
                    for future, entry in list(flight.items()):
                        if self._overdue(entry, future.key, limit, now):
                            del flight[future]
                            workers = self._cancel(future)
                            # the result first: its finish time should not include the restart
                            yield entry.run_id, failed_result(
                                f"timed out: no result after {limit:.1f}s (--timeout {timeout:g}s plus"
                                f" {grace_period(timeout):.1f}s grace); its worker was restarted, so nothing"
                                " this run recorded was kept",
                                entry.started_at,
                                status="timeout",
                            )
                            self._restart(workers, flight)
                    refill()
        finally:
            if flight:
                self.client.cancel(list(flight))

    @staticmethod
    def _outcome(future: Any, entry: _InFlight) -> RunResult:
        try:
            return future.result()
        except Exception as exc:
            # the task itself failed: the worker died (KilledWorker) or could not unpickle
            text = "".join(traceback.format_exception(exc))
            return failed_result(f"the Dask task failed: {type(exc).__name__}: {exc}\n{text}", entry.started_at)

    def close(self) -> None:
        """Disconnect; shut a local cluster down."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


# --------------------------------------------------------------------------- the driver


@dataclass
class SweepOutcome:
    """How a sweep invocation ended."""

    status: str  # "done", "failed" or "interrupted"
    interrupted: bool
    stopped_early: bool  # --fail-fast stopped it
    signum: int | None = None  # the signal that interrupted it (SIGINT, SIGTERM, SIGHUP)

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number for an interrupted sweep (the shell's convention), else None."""
        return None if not self.interrupted else 128 + int(self.signum or signal.SIGINT)


def sweep_status(counts: Mapping[str, int], interrupted: bool) -> str:
    """The sweep's final status from its runs' statuses."""
    if interrupted:
        return "interrupted"
    if any(counts.get(s, 0) for s in ("failed", "timeout", "interrupted", "pending", "running")):
        return "failed"
    return "done"


def execute_sweep(
    store: Any,
    sweep: Mapping[str, Any],
    items: Items,
    backend: Any,
    *,
    hooks: HookCaller,
    reporter: Reporter,
    timeout: float | None = None,
    fail_fast: bool = False,
) -> SweepOutcome:
    """Run ``items`` (already stored as runs of ``sweep``) on ``backend``,
    writing every result as it arrives, and finish the sweep.

    Returns how it ended; a Ctrl-C is caught here and reported as
    ``interrupted`` (after the runs in flight are marked so), never raised.
    """
    sweep_id = sweep["sweep_id"]
    running: dict[int, PlannedRun] = {}
    planned_by_id = dict(items)
    interrupted = stopped_early = False

    def started(run_ids: list[int]) -> None:
        with guard.deferred():
            store.mark_running(run_ids)
        for run_id in run_ids:
            running[run_id] = planned_by_id[run_id]
            reporter.run_started(running[run_id])

    with InterruptGuard() as guard:
        results = backend.results(items, started, timeout)
        try:
            for run_id, result in results:
                if guard.hit:  # the run saw Ctrl-C but turned it into a result
                    raise KeyboardInterrupt
                planned = running.pop(run_id)
                with guard.deferred():
                    store.write_result(run_id, result)
                reporter.run_finished(planned, result)
                hooks("run_finished", sweep=dict(sweep), run=run_payload(run_id, planned), result=result)
                if fail_fast and result.status in ("failed", "timeout"):
                    stopped_early = True
                    break
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
                if running:
                    store.mark_status(list(running), "interrupted", reason=reason)
                    for planned in running.values():
                        reporter.tally.add(planned, "interrupted")
                counts = status_counts(store, sweep_id)
                status = sweep_status(counts, interrupted)
                store.finish_sweep(sweep_id, status)
                hooks("sweep_finished", sweep=dict(sweep), counts=counts)
    return SweepOutcome(
        status=status, interrupted=interrupted, stopped_early=stopped_early, signum=guard.signum if interrupted else None
    )


def status_counts(store: Any, sweep_id: int) -> dict[str, int]:
    """Number of the sweep's runs in each status."""
    counts: dict[str, int] = {}
    for row in store.sweep_runs(sweep_id):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def unfinished(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Stored runs that ``--resume`` runs again: every one not done or skipped."""
    return [r for r in rows if r["status"] not in FINAL_STATUSES]
