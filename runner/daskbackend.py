"""The Dask backend: runs on a local Dask cluster (``--scheduler local``) or an existing one
(``--scheduler ADDRESS``).

Each run is one task (:mod:`scratchlab.runner.dasktask`), which announces when its
run starts (after a cold worker's imports of torch and the plugins): the
driver's ``--timeout`` clock starts there. A worker's timeout is cooperative
(``ctx.check_budget``), so the driver also enforces ``--timeout`` plus a grace
period: an overdue run is recorded as ``timeout`` and its worker process
restarted. A local cluster retries a task that killed its worker once, then
fails it (``KilledWorker``); a run's own ``KeyboardInterrupt`` or
``SystemExit`` comes back as a failed result, not as a traceback on the
terminal. A local cluster's workers start as :mod:`scratchlab.runner.daskstart` says (forks
of the worker forkserver where they may be). dask is imported only inside the functions that
need it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner import workerstart
from scratchlab.runner.daskstart import import_distributed, let_go_of_driver, worker_start_method
from scratchlab.runner.dasktask import RUN_STARTED_TOPIC, run_on_worker
from scratchlab.runner.execute import (
    DaskUnavailable,
    Items,
    StartedCallback,
    failed_result,
    grace_period,
)

log = logging.getLogger(__name__)


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
        raise DaskUnavailable(
            f"{address!r} is not a Dask scheduler address; expected tcp://HOST:PORT"
        ) from None
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise DaskUnavailable(
            f"cannot use the Dask scheduler at {address}: {exc.strerror or exc}"
        ) from None


#: seconds a Dask run may take to start (a cold worker importing torch and the plugins)
#: before the driver counts its timeout from the hand-out instead
START_ALLOWANCE = 120.0


def _verbose() -> bool:
    """Whether ``-v`` (or a notebook's own logging setup) asked for INFO logs."""
    return logging.getLogger().getEffectiveLevel() <= logging.INFO


def dask_log_level() -> int:
    """The lowest level of distributed's own log records a sweep shows, in the driver and in a
    local cluster's processes. Without ``-v``: CRITICAL, i.e. none. The sweep reports every
    run's outcome itself, and what distributed logs while a cluster starts, restarts a killed
    worker or shuts down is noise there, some of it with a traceback (a worker whose heartbeat
    meets a scheduler that has just closed logs an ERROR with one). With ``-v`` (INFO logs):
    ERROR, and the driver's INFO chatter."""
    return logging.ERROR if _verbose() else logging.CRITICAL


def _quiet_dask_logs() -> int | None:
    """Raise the driver's ``distributed`` logger to :func:`dask_log_level` unless ``-v`` asked
    for INFO logs; the level it had before, for :meth:`DaskBackend.close` to put back (a
    notebook's own logging outlives the sweep), or None where nothing changed."""
    if _verbose():
        return None
    logger = logging.getLogger("distributed")
    before = logger.level
    logger.setLevel(dask_log_level())
    return before


def _restore_dask_logs(level: int | None) -> None:
    """Put the driver's ``distributed`` logger back at ``level`` (from :func:`_quiet_dask_logs`)."""
    if level is not None:
        logging.getLogger("distributed").setLevel(level)


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
        start_method: str | None = None,
        warn: Callable[[str], None] | None = None,
        log_level: int | None = None,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.modules = tuple(modules)
        self.threads = threads
        self._cluster_threads: int | None = None  # auto on an existing cluster, asked once
        self.warn = warn or (lambda message: log.warning(message))
        self.poll = 0.2  # seconds between checks for overdue runs
        self._start_method = start_method  # how a local cluster's workers were started
        self._log_level = log_level  # the driver's distributed logger level to put back
        self._started: dict[Any, float] = {}  # task key -> monotonic time its run started
        with contextlib.suppress(Exception):  # an old distributed: timeouts count from the hand-out
            client.subscribe_topic(RUN_STARTED_TOPIC, self._on_started)

    @classmethod
    def local(
        cls, n_workers: int, modules: Sequence[str], *, warn: Callable[[str], None] | None = None
    ) -> DaskBackend:
        """Start a ``LocalCluster`` of ``n_workers`` single-threaded processes; torch
        threads are split between them (usable cores // n_workers each)."""
        distributed = import_distributed()
        import dask

        from scratchlab.runner.environment import usable_cpus

        log_level = _quiet_dask_logs()
        method = worker_start_method()
        if method == "forkserver":
            workerstart.hold()  # the nannies fork from it until the cluster closes
        settings = {
            # a run that kills its worker is retried once, then failed (KilledWorker), not tried on every worker
            "distributed.scheduler.allowed-failures": 1,
            "distributed.worker.multiprocessing-method": method,
        }
        try:
            with dask.config.set(settings):
                cluster = distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    # any free port: with None, distributed still tries 8787 and warns on
                    # stderr when another cluster (a notebook's, a second sweep's) holds it
                    dashboard_address=":0",
                    silence_logs=dask_log_level(),
                )
        except Exception as exc:
            let_go_of_driver(method)
            _restore_dask_logs(log_level)
            raise DaskUnavailable(
                f"could not start a local Dask cluster: {type(exc).__name__}: {exc}"
            ) from None
        client = distributed.Client(cluster, set_as_default=False)
        return cls(
            client,
            modules,
            threads=max(1, usable_cpus() // n_workers),
            cluster=cluster,
            start_method=method,
            warn=warn,
            log_level=log_level,
        )

    @classmethod
    def connect(
        cls, address: str, modules: Sequence[str], *, warn: Callable[[str], None] | None = None
    ) -> DaskBackend:
        """Use the existing cluster whose scheduler listens at ``address``; its
        workers keep the torch thread count they were started with."""
        distributed = import_distributed()
        _probe(address)
        log_level = _quiet_dask_logs()
        try:
            client = distributed.Client(address, timeout=10, set_as_default=False)
            client.wait_for_workers(1, timeout=30)
        except Exception as exc:
            _restore_dask_logs(log_level)
            raise DaskUnavailable(
                f"cannot use the Dask scheduler at {address}: {type(exc).__name__}: {exc}"
            ) from None
        return cls(client, modules, threads=None, warn=warn, log_level=log_level)

    def describe(self) -> dict[str, Any]:
        """The cluster's workers and their threads, for the sweep's environment record."""
        info = self.client.scheduler_info()
        return {
            "backend": "dask",
            "scheduler": info.get("address"),
            "local": self.cluster is not None,
            "torch_threads_per_worker": self.threads,
            "workers": {
                address: w.get("nthreads") for address, w in info.get("workers", {}).items()
            },
        }

    def torch_environment(self) -> dict[str, Any]:
        """torch's version, threads and devices for the sweep's record: as a fork of the worker
        forkserver sees them on a local cluster (the driver need not import torch), as this
        process sees them beside an existing cluster."""
        from scratchlab.runner.environment import torch_environment, torch_environment_forked

        return torch_environment_forked() if self.cluster is not None else torch_environment()

    def auto_threads(self, exclusive: bool) -> int:
        """The torch threads an ``auto`` run gets: the share each worker was given (a local
        cluster), or on an existing cluster the smallest share of any worker (its usable cores
        over its Dask threads), so a run gets the same count wherever it lands."""
        if self.threads is not None:
            return self.threads
        if self._cluster_threads is None:
            from scratchlab.runner.environment import usable_cpus

            try:
                cores = self.client.run(usable_cpus)
                slots = self.client.nthreads()
                self._cluster_threads = max(
                    1, min(cores[w] // max(1, slots.get(w, 1)) for w in cores)
                )
            except Exception:  # a worker that cannot answer: one thread cannot oversubscribe
                self._cluster_threads = 1
        return self._cluster_threads

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
        """Restart the worker processes cancelled runs are stuck in (a thread cannot
        be stopped); runs rescheduled from them start their clock again. A local cluster's
        workers are killed outright and their nannies start new ones at once; an existing
        cluster's are restarted through the scheduler (each asked to close first, which a
        stuck run makes it wait out: seconds)."""
        if not workers:
            return
        moved = {k for w, keys in self.client.processing().items() if w in workers for k in keys}
        try:
            if self.cluster is not None:
                self._kill_local(workers)
            else:
                self.client.restart_workers(workers, timeout=60)
        except Exception as exc:
            self.warn(f"could not restart Dask worker {', '.join(workers)} after a timeout: {exc}")
            return
        for future, entry in flight.items():
            if future.key in moved:
                entry.since, entry.running_since = time.monotonic(), None
                self._started.pop(future.key, None)

    def _kill_local(self, workers: list[str]) -> None:
        """SIGKILL the local cluster's worker processes at ``workers``; each one's nanny sees
        it die and starts a new one (nothing of a timed-out run is kept either way)."""
        nannies = {n.worker_address: n for n in self.cluster.workers.values()}
        for address in workers:
            pid = getattr(nannies.get(address), "pid", None)
            if pid is None:
                raise RuntimeError(f"no local worker process at {address}")
            with contextlib.suppress(ProcessLookupError):  # it died meanwhile: restarted anyway
                os.kill(pid, signal.SIGKILL)

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

    def results(
        self, items: Items, started: StartedCallback, timeout: float | None, live: Any = None
    ) -> Iterator[tuple[int, RunResult]]:
        """Yield ``(run_id, result)`` as runs finish; cancels what is in flight when closed early.
        ``items`` may grow while results are read (a search adds trials). Nothing is live on
        Dask (``live`` is ignored): metrics arrive with the result, and nothing is pruned."""
        distributed = import_distributed()
        taken = 0  # items handed out so far, in order
        flight: dict[Any, _InFlight] = {}
        limit = None if timeout is None else timeout + grace_period(timeout)

        def refill() -> None:
            nonlocal taken
            handed: list[int] = []
            while taken < len(items) and len(flight) < self._slots():
                run_id, planned = items[taken]
                taken += 1
                future = self._submit(run_id, planned, timeout)
                flight[future] = _InFlight(run_id, planned, time.monotonic(), datetime.now(UTC))
                handed.append(run_id)
            if handed:
                started(handed)

        try:
            refill()
            while flight or taken < len(items):
                try:
                    # wait() looks the client up; ours is not the process-wide default
                    with self.client.as_current():
                        done, _ = distributed.wait(
                            list(flight), timeout=self.poll, return_when="FIRST_COMPLETED"
                        )
                except TimeoutError:
                    done = set()
                finished = [(flight.pop(future), future) for future in done]
                refill()  # hand out the next runs before the driver spends time writing results
                for entry, future in finished:
                    yield entry.run_id, self._outcome(future, entry)
                refill()  # runs the driver added meanwhile
                if limit is not None:
                    yield from self._time_out(flight, timeout, limit)
                    refill()
        finally:
            if flight:
                self.client.cancel(list(flight))

    def _time_out(
        self, flight: dict[Any, _InFlight], timeout: float, limit: float
    ) -> Iterator[tuple[int, RunResult]]:
        """Cancel the runs in ``flight`` with no result after ``limit`` seconds and restart their
        workers; yield each as timed out."""
        now = time.monotonic()
        overdue = [(f, e) for f, e in flight.items() if self._overdue(e, f.key, limit, now)]
        stuck: list[str] = []
        for future, entry in overdue:
            del flight[future]
            stuck += self._cancel(future)
            # the results first: their finish times should not include the restart
            yield (
                entry.run_id,
                failed_result(
                    f"timed out: no result after {limit:.1f}s (--timeout {timeout:g}s plus"
                    f" {grace_period(timeout):.1f}s grace); its worker was restarted, so nothing"
                    " this run recorded was kept",
                    entry.started_at,
                    status="timeout",
                ),
            )
        # every worker a run is stuck in at once, not one after another
        self._restart(sorted(set(stuck)), flight)

    @staticmethod
    def _outcome(future: Any, entry: _InFlight) -> RunResult:
        try:
            return future.result()
        except Exception as exc:
            # the task itself failed: the worker died (KilledWorker) or could not unpickle
            text = "".join(traceback.format_exception(exc))
            return failed_result(
                f"the Dask task failed: {type(exc).__name__}: {exc}\n{text}", entry.started_at
            )

    def close(self) -> None:
        """Disconnect; shut a local cluster down."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
            let_go_of_driver(self._start_method)
            self.cluster = None
        _restore_dask_logs(self._log_level)  # after the close, whose own logs stay quiet
        self._log_level = None
