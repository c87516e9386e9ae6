"""Thread counts and sizes the supervised pool works with (no processes started here)."""

from __future__ import annotations

import pytest

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.execute import run_threads
from scratchlab.runner.plan import plan
from scratchlab.runner.run_keys import run_identity
from scratchlab.runner.spec import SweepSpec
from scratchlab.runner.worker import parse_size
from scratchlab.runner.workerproc import exit_description


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


@pytest.mark.parametrize(
    ("threads", "exclusive", "cores", "workers", "expected"),
    [
        (None, False, 2, 2, 1),  # auto, shared: an equal share of the cores
        (None, False, 8, 3, 2),
        (None, True, 8, 4, 8),  # auto, alone: every core
        (None, False, 4, 1, 4),  # one worker runs alone anyway
        (None, False, 1, 1, 1),  # the 1-core machine
        (3, False, 8, 4, 3),  # a given count is kept
        (1, True, 8, 4, 1),
    ],
)
def test_thread_counts(threads, exclusive, cores, workers, expected):
    run = PlannedRun(key="k", experiment="e", components={}, params={}, threads=threads)
    assert run_threads(run, exclusive=exclusive, cores=cores, workers=workers) == expected


def test_threads_are_swept_and_keyed_like_a_setting(plugins):
    auto = plan(SweepSpec(experiments=("gradcheck",)), plugins.registry)
    swept = plan(SweepSpec(experiments=("gradcheck",), threads=(None, 1, 2)), plugins.registry)
    assert len(swept) == 3 * len(auto)
    assert {r.threads for r in swept} == {None, 1, 2}
    assert len({r.key for r in swept}) == len(swept)
    # auto keeps the keys runs had before thread counts were a setting
    assert {r.key for r in auto} == {r.key for r in swept if r.threads is None}
    assert len({run_identity(r) for r in swept}) == len(swept)
    assert SweepSpec.from_json(SweepSpec(threads=(None, 4)).to_json()).threads == (None, 4)


def test_memory_sizes_and_exit_descriptions():
    assert parse_size("512M") == 512 * 2**20
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size("off") is None
    with pytest.raises(ValueError, match="SCRATCHLAB_WORKER_MEMORY"):
        parse_size("lots")
    assert exit_description(3) == "the worker process exited with code 3"
    assert exit_description(-11).startswith("the worker process was killed by SIGSEGV")
    assert "out of memory" in exit_description(-9)
