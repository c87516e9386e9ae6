"""The Dask task (``runner/dasktask.py``), called as a Dask worker calls it: a run comes back
as a plain result, a component the worker lacks is a failed result that names it, and a run
that raises ``KeyboardInterrupt`` is a failed result, not an exception on the worker."""

from __future__ import annotations

import sys
import textwrap

import pytest

from scratchlab.core.records import PlannedRun
from scratchlab.runner import dasktask

INTERRUPTER = """
from scratchlab.plugins import Experiment, hookimpl


def interrupted(ctx):
    raise KeyboardInterrupt


@hookimpl
def register_experiments(register):
    register(Experiment(name="interrupted", run=interrupted, description="raises Ctrl-C"))
"""


@pytest.fixture
def modules(toy_path):
    """The toy plugins and one whose run raises ``KeyboardInterrupt``, loaded afresh."""
    (toy_path / "interrupter.py").write_text(textwrap.dedent(INTERRUPTER))
    dasktask._worker_plugins.cache_clear()
    yield ("sweeptoy", "interrupter")
    dasktask._worker_plugins.cache_clear()
    sys.modules.pop("interrupter", None)


def run(modules, experiment: str, params: dict | None = None, **components) -> object:
    planned = PlannedRun(f"k-{experiment}", experiment, dict(components), dict(params or {}))
    return dasktask.run_on_worker(modules, planned, timeout=30.0, threads=None)


def test_a_run_comes_back_as_a_result_and_the_plugins_load_once(modules):
    result = run(modules, "echo", {"n": 4, "scale": 1.0}, matmul="toy-a")
    assert result.status == "done" and result.metrics, result.reason
    run(modules, "noop")
    assert dasktask._worker_plugins.cache_info().misses == 1  # one load per worker process


def test_a_component_the_worker_lacks_is_a_failed_result_that_names_it(modules):
    result = run(modules, "echo", {"n": 4, "scale": 1.0}, matmul="not-installed-here")
    assert result.status == "failed"
    assert "this worker has no matmul 'not-installed-here'" in result.reason


def test_a_keyboard_interrupt_in_the_run_is_a_failed_result(modules):
    result = run(modules, "interrupted")
    assert result.status == "failed" and "KeyboardInterrupt" in result.reason
