"""A worker process from the driver's side: the first one of a sweep, started before the plan
(issue 24, item 18), and how a worker is stopped with what its runs started."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.processes import start_time

from scratchlab.runner.cli import cli
from scratchlab.runner.workerproc import WorkerHandle, stop_worker


def test_a_sweep_that_fails_to_plan_leaves_no_worker_running(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "sweep", "--experiments", "nosuch"])
    assert result.exit_code == 2, result.output
    assert "unknown experiment 'nosuch'" in result.output
    assert not multiprocessing.active_children()  # the worker started early was stopped


FORKER = """
import os, sys, time
pids = sys.argv[1]
with open(pids, "a") as out:
    out.write(f"{os.getpid()}\\n")
for _ in range(200):  # forks until it is killed: one of them races the kill
    if os.fork() == 0:
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\\n")
        time.sleep(600)
        os._exit(0)
    time.sleep(0.02)
time.sleep(600)
"""


def _leader(pids: str) -> None:
    """A stand-in worker: leads its own group, as worker_main does, with a child that forks."""
    os.setpgid(0, 0)
    subprocess.Popen([sys.executable, "-c", FORKER, pids])
    time.sleep(600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_stopped_worker_takes_its_whole_process_group_with_it(tmp_path: Path):
    pids = tmp_path / "pids"
    context = multiprocessing.get_context("fork")
    conn, _child = context.Pipe()
    process = context.Process(target=_leader, args=(str(pids),), daemon=True)
    process.start()
    worker = WorkerHandle(process, conn, tmp_path / "out.log")
    deadline = time.monotonic() + 120  # the fork has started two by then, however busy the machine
    while len(pids.read_text().split() if pids.exists() else []) < 3:
        assert time.monotonic() < deadline, "the stand-in worker's children did not start"
        time.sleep(0.05)
    started = {int(p): start_time(int(p)) for p in pids.read_text().split()}

    stop_worker(worker)  # returns once the group is gone: killed and reaped

    assert process.exitcode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no process is left in the group, not even a zombie
    assert {p for p, began in started.items() if start_time(p) == began} == set()
