"""How a local Dask cluster's worker processes start, and what that lends them from the driver.

They are forks of the worker forkserver (:mod:`scratchlab.runner.workerstart`), which imports
torch and distributed once, where workers may be forked; spawned otherwise. A nanny gives the
workers it starts distributed's ``pre-spawn-environ`` variables through the driver's own
environment, so they are set here before the server starts (a fork inherits the server's), and
put back when the cluster closes (:func:`let_go_of_driver`): a notebook that ran a local-cluster
sweep keeps the environment it had. While the cluster lives, the server is held, so that no
other sweep of this process replaces it under the nannies' forks.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from scratchlab.runner import workerstart
from scratchlab.runner.execute import DaskUnavailable

#: what the worker forkserver imports besides torch when a local cluster's workers are its forks
FORKSERVER_PRELOAD = ("distributed",)
#: the hash seed a nanny gives the workers it starts when none is set (distributed's choice,
#: so that every worker hashes alike)
NANNY_HASH_SEED = "6640"
#: the driver's variables a local cluster set for its workers: name -> (value before, None if
#: unset; value set); :func:`let_go_of_driver` puts back those that still have the value set
_SET_FOR_WORKERS: dict[str, tuple[str | None, str]] = {}


def start_early() -> None:
    """Start the worker forkserver of a local cluster about to be started (``--scheduler
    local``) now, without waiting for it, so that its imports of torch and distributed overlap
    the driver's planning."""
    if workerstart.forkserver_wanted():
        # without distributed the cluster's start says so in one line; nothing to start here
        with contextlib.suppress(DaskUnavailable):
            _worker_context()


def stop_early() -> None:
    """Put back the driver's environment that :func:`start_early` changed, where the sweep
    ended before its cluster started (a usage error, nothing to run); a cluster that started
    puts it back when it closes."""
    _restore_environ()


def _worker_context() -> Any:
    """The ``multiprocessing`` context a local cluster's nannies start workers with (the
    forkserver's, started if need be, or ``spawn``). A nanny sets distributed's
    ``pre-spawn-environ`` variables (``OMP_NUM_THREADS``, ``MALLOC_TRIM_THRESHOLD_``, ...) in
    this process before it starts a worker, for the worker to inherit; a fork inherits the
    server's environment instead, so they are set here first, before the server starts."""
    import dask

    import_distributed()  # its defaults join dask's configuration when it is imported
    wanted = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    for name, value in wanted.items():
        if value is not None and name not in os.environ:  # as the nanny does: the user's wins
            _set_for_workers(name, str(value))
    if os.environ.get("PYTHONHASHSEED") in (None, "0"):
        _set_for_workers("PYTHONHASHSEED", NANNY_HASH_SEED)
    return workerstart.worker_context(preload=FORKSERVER_PRELOAD)


def _set_for_workers(name: str, value: str) -> None:
    """Set a variable of this process's environment for a local cluster's workers, keeping its
    value before for :func:`_restore_environ`."""
    # a second cluster keeps the first's "before": the value the user had
    before = _SET_FOR_WORKERS[name][0] if name in _SET_FOR_WORKERS else os.environ.get(name)
    _SET_FOR_WORKERS[name] = (before, value)
    os.environ[name] = value


def _restore_environ() -> None:
    """Put back what :func:`_set_for_workers` changed (the nanny sets the same values): a
    notebook that ran a local-cluster sweep must not import torch later with one OpenMP thread,
    nor start its next sweep's workers under variables it never set. A variable changed since
    (by the user, or a sweep that ended before its cluster started) is left as it is now."""
    for name, (before, value) in _SET_FOR_WORKERS.items():
        if os.environ.get(name) != value:
            continue
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
    _SET_FOR_WORKERS.clear()


def worker_start_method() -> str:
    """How a local cluster starts its worker processes: forked from the worker forkserver, which
    has imported torch and distributed once (a spawned worker imports both, about 2 s of CPU,
    at every start and every restart after a timeout), or ``spawn`` where workers are not
    forked (:func:`~scratchlab.runner.workerstart.forkserver_wanted`)."""
    import distributed.utils

    method = _worker_context().get_start_method()
    if method == "forkserver":
        # distributed would import its optional packages (pandas among them) here to preload
        # them into a server it did not start: this one is running already
        distributed.utils._forkserver_preload_set = True
    return method


def let_go_of_driver(method: str | None) -> None:
    """A local cluster is gone: the driver's environment as it was, the forkserver free."""
    _restore_environ()
    if method == "forkserver":
        workerstart.release()


def import_distributed() -> Any:
    """``distributed``, or :class:`DaskUnavailable` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise DaskUnavailable(
            "--workers and --scheduler need dask.distributed: pip install 'scratchlab[dask]'"
        ) from None
    return distributed
