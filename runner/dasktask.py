"""The Dask task: what a Dask worker process runs for one run of a sweep
(:class:`~scratchlab.runner.daskbackend.DaskBackend` submits it).

It loads the plugins once per worker process, sets torch's thread count, tells the
driver when the run starts (after a cold worker's imports: the ``--timeout`` clock
starts there) and returns a plain :class:`~scratchlab.core.records.RunResult`; a
run's own ``KeyboardInterrupt`` or ``SystemExit`` comes back as a failed result,
not as a traceback on the worker's terminal.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from datetime import UTC, datetime
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner.execute import failed_result, missing_on_worker

#: the Dask event topic a task publishes when its run starts (after the worker's imports)
RUN_STARTED_TOPIC = "scratchlab-run-started"


@functools.cache
def _worker_plugins(modules: tuple[str, ...]) -> Any:
    # one plugin load per worker process (a restarted worker loads again)
    from scratchlab.plugins.manager import load_plugins

    return load_plugins(modules)


def run_on_worker(
    modules: tuple[str, ...], planned: PlannedRun, timeout: float | None, threads: int | None
) -> RunResult:
    """The Dask task: set torch's thread count, load the plugins (once per process), run."""
    import torch

    from scratchlab.runner.run_one import run_experiment

    started_at = datetime.now(UTC)
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    plugins = _worker_plugins(tuple(modules))
    missing = missing_on_worker(plugins, planned)
    if missing is not None:
        return failed_result(missing, started_at)
    _announce_start()
    try:
        return run_experiment(plugins, planned, timeout=timeout)
    except BaseException as exc:
        # a KeyboardInterrupt the run raised: a result, not a traceback on the worker's terminal
        return failed_result(
            f"the run raised {type(exc).__name__}\n{traceback.format_exc()}", started_at
        )


def _announce_start() -> None:
    """Tell the driver this Dask task's run starts now, so its ``--timeout`` clock starts here."""
    # not on a Dask worker, or an old scheduler: the driver counts from the hand-out
    with contextlib.suppress(Exception):
        import distributed

        worker = distributed.get_worker()
        worker.log_event(RUN_STARTED_TOPIC, {"key": worker.get_current_task()})
