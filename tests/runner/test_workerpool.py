"""The supervised backend's pool: what it makes of workers that die before they are ready
(no processes: the workers here are stand-ins with what the pool reads of a WorkerHandle)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scratchlab.runner.workerpool import START_ATTEMPTS, WorkerPool, WorkerStartError


def test_a_plugin_that_crashes_workers_on_import_is_left_out_by_name():
    warnings: list[str] = []
    pool = WorkerPool(("crashy",), max_runs=None, warn=warnings.append)
    for _ in range(START_ATTEMPTS + 1):  # never counted as a start failure: it is blamed
        pool.start_failed(SimpleNamespace(loading="crashy"), -11, "")
    assert pool.blocked == {"crashy": "killed by SIGSEGV (a crash in native code)"}
    assert warnings[0] == (
        "plugin 'crashy' crashed a worker process on import (killed by SIGSEGV (a crash in"
        " native code)); its runs fail, the others run without it"
    )


def test_workers_dying_before_ready_stop_the_sweep_with_one_line_after_a_few_tries():
    pool = WorkerPool((), max_runs=None, warn=lambda message: None)
    unblamed = SimpleNamespace(loading=None)
    for _ in range(START_ATTEMPTS - 1):
        pool.start_failed(unblamed, 1, "")
    pool.ready(SimpleNamespace(ready=False))  # a worker that got ready resets the count
    for _ in range(START_ATTEMPTS - 1):
        pool.start_failed(unblamed, 1, "")
    with pytest.raises(WorkerStartError) as caught:
        pool.start_failed(unblamed, 1, "Traceback ...\nImportError: no module named torch\n")
    assert str(caught.value) == (
        "worker processes die before they are ready: the worker process exited with code 1;"
        " its last output: ImportError: no module named torch"
    )
