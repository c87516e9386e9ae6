"""Where runs execute: the :class:`Backend` protocol and the name -> factory table.

A backend takes planned runs and yields their results; the sweep engine
(:mod:`scratchlab.runner.sweep_execute`) writes them, so every backend leaves the
database a single writer. Built-in backends, by name:

- ``supervised``: worker processes watched by this one
  (:class:`scratchlab.runner.supervisor.SupervisedBackend`, the default);
- ``inline``: this process, one run after another (for pdb;
  :class:`scratchlab.runner.inline.InlineBackend`);
- ``dask-local``: a local Dask cluster (``--scheduler local``);
- ``dask``: an existing Dask cluster at ``--scheduler ADDRESS``
  (:class:`scratchlab.runner.daskbackend.DaskBackend`).

Another backend is one entry in :data:`BACKENDS` (as hydra's launchers or
mlflow's store registry): :func:`register_backend` ``("name", factory)``,
then ``Execution(backend="name")``. A factory gets a :class:`BackendRequest`
and returns a :class:`Backend`; it imports what it needs inside, so choosing
a backend never imports the others' dependencies (Dask, multiprocessing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from scratchlab.core.records import RunResult
from scratchlab.runner.execute import Items, StartedCallback
from scratchlab.runner.live import LiveSink


@runtime_checkable
class Backend(Protocol):
    """Runs planned runs somewhere and hands their results back to the driver."""

    def describe(self) -> dict[str, Any]:
        """How runs execute (``{"backend": name, ...}``), stored in the sweep's environment."""

    def results(
        self,
        items: Items,
        started: StartedCallback,
        timeout: float | None,
        live: LiveSink | None = None,
    ) -> Iterator[tuple[int, RunResult]]:
        """Run ``items`` (``(run_id, PlannedRun)`` pairs, in the order they should start) and
        yield ``(run_id, RunResult)`` as each finishes, in any order. Call ``started`` with
        the ids of runs as they are handed out; ``timeout`` is each run's budget in seconds.
        A run's own failure is a result (status ``failed``/``timeout``), never an exception.
        ``items`` is a list that may grow while results are read (a search adds trials after
        each result): take new entries from it until nothing runs and none are left. ``live``
        (:mod:`scratchlab.runner.live`) stores running runs' metric batches and judges the
        values they report; a backend that cannot carry them ignores it (results then bring
        every metric, and nothing is pruned)."""

    def close(self) -> None:
        """Release workers, clusters and files; called once, also after an interrupt."""

    # Optional, so not in the protocol's checked methods: ``auto_threads(exclusive: bool) -> int``,
    # the torch thread count an ``auto`` run gets on this backend (stored with the run and
    # counted in its key, :mod:`scratchlab.runner.threads`); without it, every usable core.
    # ``torch_environment() -> dict``, torch's version, threads and devices as the backend's
    # workers see them (the sweep's environment record); without it, the driver's own.


@dataclass(frozen=True)
class BackendRequest:
    """What a factory gets: the driver's plugins and what the user asked for."""

    plugins: Any  # the loaded Plugins (the driver's registry)
    modules: Sequence[str] = ()  # --plugin modules every worker must load too
    workers: int | None = None  # --workers (None: the backend's default)
    scheduler: str | None = None  # --scheduler ("local" or an address)
    max_runs: int | None = None  # --max-runs-per-worker (supervised workers)
    warn: Callable[[str], None] | None = field(default=None, compare=False)


BackendFactory = Callable[[BackendRequest], Backend]


def _supervised(request: BackendRequest) -> Backend:
    from scratchlab.runner.supervisor import SupervisedBackend

    return SupervisedBackend(
        request.plugins,
        tuple(request.modules),
        workers=request.workers,
        max_runs=request.max_runs,
        warn=request.warn,
    )


def _inline(request: BackendRequest) -> Backend:
    from scratchlab.runner.inline import InlineBackend

    return InlineBackend(request.plugins, warn=request.warn)


def _dask_local(request: BackendRequest) -> Backend:
    from scratchlab.runner.daskbackend import DaskBackend
    from scratchlab.runner.environment import usable_cpus

    return DaskBackend.local(
        request.workers or usable_cpus(), tuple(request.modules), warn=request.warn
    )


def _dask(request: BackendRequest) -> Backend:
    from scratchlab.runner.daskbackend import DaskBackend

    if request.scheduler is None:
        raise ValueError("the dask backend needs a scheduler address (--scheduler ADDRESS)")
    return DaskBackend.connect(request.scheduler, tuple(request.modules), warn=request.warn)


#: backend name -> factory; the one table every sweep chooses from
BACKENDS: dict[str, BackendFactory] = {
    "supervised": _supervised,
    "inline": _inline,
    "dask-local": _dask_local,
    "dask": _dask,
}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add a backend (or replace one of the same name); ``Execution(backend=name)`` selects it."""
    BACKENDS[name] = factory


def backend_name(*, inline: bool = False, scheduler: str | None = None) -> str:
    """The built-in backend the command line's options name: ``--inline``, ``--scheduler
    local``, ``--scheduler ADDRESS``, or none of them (supervised workers)."""
    if inline:
        return "inline"
    if scheduler == "local":
        return "dask-local"
    if scheduler is not None:
        return "dask"
    return "supervised"


def make_backend(name: str, request: BackendRequest) -> Backend:
    """The backend registered as ``name``, made for ``request``; KeyError for an unknown name.
    A Dask backend raises :class:`scratchlab.runner.execute.DaskUnavailable` when Dask
    cannot be used."""
    return BACKENDS[name](request)
