"""Backends are one table: a backend written in a test module joins it and runs a real sweep;
the command line's options name the built-in ones; an unknown name is one line."""

from __future__ import annotations

import pytest

from scratchlab.runner import backends
from scratchlab.runner.backends import Backend, BackendRequest, backend_name, register_backend
from scratchlab.runner.inline import InlineBackend
from scratchlab.runner.spec import SweepSpec
from scratchlab.runner.sweeping import Execution, SweepUsageError, run_sweep


class ReversedBackend:
    """A backend as a third party would write one: runs in this process, last planned first."""

    def __init__(self, request: BackendRequest) -> None:
        self.inline = InlineBackend(request.plugins)
        self.order: list[int] = []

    def describe(self):
        return {"backend": "reversed"}

    def results(self, items, started, timeout, live=None):
        for run_id, result in self.inline.results(list(items)[::-1], started, timeout, live):
            self.order.append(run_id)
            yield run_id, result

    def close(self):
        self.inline.close()


@pytest.fixture
def reversed_backend(monkeypatch):
    made: list[ReversedBackend] = []

    def factory(request: BackendRequest) -> Backend:
        made.append(ReversedBackend(request))
        return made[-1]

    monkeypatch.setitem(backends.BACKENDS, "reversed", factory)
    return made


def test_a_backend_from_a_test_module_runs_a_sweep_and_is_recorded(
    reversed_backend, toy_path, results
):
    spec = SweepSpec(experiments=("noop",), repeat=3, plugin_modules=("sweeptoy",))
    outcome = run_sweep(spec, db=str(results.path), execution=Execution(backend="reversed"))

    assert outcome.status == "done"
    (backend,) = reversed_backend
    assert isinstance(backend, Backend)
    assert backend.order == sorted(backend.order, reverse=True) and len(backend.order) == 3
    assert results.count("metrics") == 3  # the driver wrote every result
    (environment,) = results.query("SELECT environment_json FROM sweeps")
    assert '"backend": "reversed"' in environment[0]


def test_register_backend_adds_a_name_execution_accepts(monkeypatch):
    monkeypatch.setattr(backends, "BACKENDS", dict(backends.BACKENDS))
    with pytest.raises(SweepUsageError, match="unknown backend 'mine'; known: dask, dask-local"):
        Execution(backend="mine")
    register_backend("mine", lambda request: InlineBackend(request.plugins))
    assert Execution(backend="mine").backend_name() == "mine"


def test_the_command_lines_options_name_the_built_in_backends():
    assert backend_name() == "supervised"
    assert backend_name(inline=True) == "inline"
    assert backend_name(scheduler="local") == "dask-local"
    assert backend_name(scheduler="tcp://host:8786") == "dask"
    assert Execution(workers=2, scheduler="local").backend_name() == "dask-local"
    assert set(backends.BACKENDS) >= {"supervised", "inline", "dask-local", "dask"}


def test_workers_with_an_existing_cluster_is_refused_in_one_place():
    with pytest.raises(SweepUsageError, match="--workers sets the local worker count"):
        Execution(workers=2, scheduler="tcp://host:8786")
