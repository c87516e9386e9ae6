"""SIGTERM and SIGHUP stop a real ``runner sweep`` the way Ctrl-C does.

The runs in flight are stored ``interrupted``, the sweep is ``interrupted``
and resumable, the exit code is 128 + the signal, and no worker process
outlives the sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fixtures.processes import start_time

MODULE = "stallplugin"

SOURCE = '''
import os
import time

from scratchlab.plugins import Experiment, hookimpl


def stall(ctx):
    """Writes its pid, then waits for as long as the flag file exists."""
    with open(os.environ["STALL_PIDS"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    while os.path.exists(os.environ["STALL_FLAG"]):
        time.sleep(0.05)
    ctx.metric("done", 1.0)


@hookimpl
def register_experiments(register):
    register(Experiment(name="stall", run=stall, description="waits while a flag file exists"))
'''


@pytest.fixture
def stall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin's folder on PYTHONPATH; the flag file set (runs stall until it is removed)."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    flag = tmp_path / "stall.flag"
    flag.touch()
    monkeypatch.setenv("STALL_FLAG", str(flag))
    monkeypatch.setenv("STALL_PIDS", str(tmp_path / "pids.txt"))
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    return flag


def sweep(db: Path, *args: str) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "scratchlab.runner.cli",
        "--db",
        f"sqlite:///{db}",
        "--plugin",
        MODULE,
        "sweep",
    ]
    return subprocess.Popen(
        [*argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=db.parent
    )


def query(db: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql).fetchall()


def wait_for_a_run(pids: Path, process: subprocess.Popen) -> int:
    """The pid of the worker process running the first run, once it has started."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if pids.exists() and pids.read_text().strip():
            return int(pids.read_text().split()[0])
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("no run started within 180 s")


def gone(pid: int, began: str | None, seconds: float = 60) -> bool:
    """Whether the process ``pid`` that started at ``began`` is gone, waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while start_time(pid) == began and time.monotonic() < deadline:
        time.sleep(0.1)
    return start_time(pid) != began


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_interrupts_the_sweep_like_ctrl_c_and_it_resumes(
    stall: Path, tmp_path: Path, signum: int
):
    db = tmp_path / "runs.db"
    process = sweep(db, "--experiments", "stall", "--repeat", "3", "--workers", "1", "-q")
    try:
        worker = wait_for_a_run(Path(os.environ["STALL_PIDS"]), process)
        began = start_time(worker)  # it is running the stalled run
        assert began is not None
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert query(db, "SELECT status FROM sweeps") == [("interrupted",)]
    statuses = sorted(query(db, "SELECT status, reason FROM runs"), key=str)
    assert statuses == [
        ("interrupted", f"interrupted by {signal.Signals(signum).name}"),
        ("pending", None),
        ("pending", None),
    ]
    assert gone(worker, began), "the worker outlived the interrupted sweep"

    stall.unlink()  # runs now finish at once
    resumed = sweep(db, "--resume", "1", "-q")
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    assert query(db, "SELECT status FROM runs") == [("done",)] * 3
    assert query(db, "SELECT status FROM sweeps") == [("done",)]
