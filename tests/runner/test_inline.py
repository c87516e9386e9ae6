"""The inline backend: runs in this process, in order, including runs added while it reads."""

from __future__ import annotations

import os

import pytest

from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.inline import InlineBackend
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec


@pytest.mark.usefixtures("toy_path")
def test_runs_go_in_order_in_this_process_and_runs_added_meanwhile_run_too():
    plugins = load_plugins(("sweeptoy",))
    spec = SweepSpec(experiments=("sleepy",), repeat=3, settings={"sleepy": {"seconds": 0}})
    runs = plan(spec, plugins.registry)
    items = [(10, runs[0]), (11, runs[1])]
    started: list[int] = []
    backend = InlineBackend(plugins)
    results = []
    for run_id, result in backend.results(items, started.extend, timeout=None):
        pid = next(m.value for m in result.metrics if m.name == "pid")
        results.append((run_id, result.status, pid))
        if run_id == 10:
            items.append((12, runs[2]))  # a search adds a trial after a result
    backend.close()
    here = float(os.getpid())  # nothing was spawned: every run was this process's
    assert results == [(10, "done", here), (11, "done", here), (12, "done", here)]
    assert started == [10, 11, 12]
    assert backend.describe()["backend"] == "inline"
