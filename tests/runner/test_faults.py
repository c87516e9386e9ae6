"""Faults a run's plugin code can still cause, each with a real plugin module and a real
``runner sweep`` process: closed standard streams, a child left running, a timeout swallowed
inline, SIGTERM ignored, a thread left behind, a ``BaseException``, a 20 MB message, and a plugin
whose import crashes the worker."""

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
from fixtures.processes import alive

from scratchlab.runner.execute import REASON_LIMIT

FAULTS = "faultsplugin"
SEGV = "segvplugin"

FAULTS_SOURCE = '''
"""Runs that misbehave, one way each."""

import os
import signal
import subprocess
import sys
import threading
import time

from scratchlab.plugins import Experiment, hookimpl


class Boom(BaseException):
    """Not an Exception: a careless plugin's own control flow."""


def _child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    # its pid and start time: together they name it even after the pid is used again
    began = open(f"/proc/{child.pid}/stat").read().rpartition(")")[2].split()[19]
    with open(os.environ["FAULT_PIDS"], "a") as out:
        out.write(f"{child.pid} {began}\\n")


def ok(ctx):
    print("ok can print", flush=True)
    ctx.metric("pid", float(os.getpid()))


def closefds(ctx):
    os.close(1)
    os.close(2)


def child_exit(ctx):
    _child()
    os._exit(3)


def huge(ctx):
    raise ValueError("x" * 20_000_000)


def baseexc(ctx):
    raise Boom("a BaseException")


def swallow(ctx):
    while True:
        try:
            time.sleep(0.05)
        except Exception:  # the runner's timeout too
            pass


def sigign(ctx):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def wait(ctx):
    open(os.environ["FAULT_MARK"], "w").close()
    time.sleep(60)


def thread(ctx):
    threading.Thread(target=time.sleep, args=(600,), name="left-behind").start()


@hookimpl
def register_experiments(register):
    for fn in (ok, closefds, child_exit, huge, baseexc, swallow, sigign, wait, thread):
        register(Experiment(name="f-" + fn.__name__.replace("_", "-"), run=fn))
'''

SEGV_SOURCE = '''
"""A plugin whose import crashes a worker process (it imports fine in the driver)."""

import ctypes
import multiprocessing

from scratchlab.plugins import Experiment, hookimpl

if multiprocessing.parent_process() is not None:
    ctypes.string_at(0)


@hookimpl
def register_experiments(register):
    register(Experiment(name="segv-exp", run=lambda ctx: None))
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two plugin modules, importable by the sweep subprocesses and their workers."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / f"{FAULTS}.py").write_text(textwrap.dedent(FAULTS_SOURCE))
    (root / f"{SEGV}.py").write_text(textwrap.dedent(SEGV_SOURCE))
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("FAULT_PIDS", str(tmp_path / "children.txt"))
    monkeypatch.setenv("FAULT_MARK", str(tmp_path / "waiting"))
    for name in ("SCRATCHLAB_DB", "SCRATCHLAB_WORKER_MEMORY", "SCRATCHLAB_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return root


def start(db: Path, *args: str, plugins: tuple[str, ...] = (FAULTS,)) -> subprocess.Popen:
    """``runner --db DB --plugin ... sweep ARGS -q`` as a real subprocess."""
    argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{db}"]
    for plugin in plugins:
        argv += ["--plugin", plugin]
    return subprocess.Popen(
        [*argv, "sweep", *args, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=db.parent,
    )


def runs(db: Path) -> dict[str, tuple[str, str]]:
    """experiment -> (status, reason)."""
    with contextlib.closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT experiment, status, reason FROM runs").fetchall()
    return {e: (s, r or "") for e, s, r in rows}


def children_gone() -> bool:
    """Whether every child the runs started is gone. The driver waits for a discarded worker's
    process group to be empty, so they are gone by the time the sweep ends; the deadline is only
    there so that a broken driver fails the test instead of hanging it."""
    children = [line.split() for line in Path(os.environ["FAULT_PIDS"]).read_text().splitlines()]
    deadline = time.monotonic() + 120
    while any(alive(int(p), b) for p, b in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(children) and not any(alive(int(p), b) for p, b in children)


def assert_bounded(reason: str, stderr: str) -> None:
    """A 20 MB message is stored and printed bounded, and says it was cut."""
    assert len(reason) < REASON_LIMIT + 200
    assert "characters cut: the reason had 20,0" in reason
    assert len(stderr) < 20_000


@pytest.mark.slow
def test_supervised_faults_cost_their_own_run_only(plugins: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    experiments = "f-closefds,f-ok,f-huge,f-child-exit,segv-exp"
    process = start(db, "--experiments", experiments, "--workers", "1", plugins=(FAULTS, SEGV))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1, err
    assert "Traceback" not in err and "WorkerStartError" not in err
    stored = runs(db)
    # closing fd 1 and 2 is undone: the next run in the same worker prints and is done
    assert stored["f-closefds"] == (
        "done",
        "the run changed its process: closed or redirected file descriptor 1 (restored);"
        " closed or redirected file descriptor 2 (restored)",
    )
    assert stored["f-ok"] == ("done", "")
    # a 20 MB message: stored and printed bounded
    assert stored["f-huge"][0] == "failed"
    assert_bounded(stored["f-huge"][1], err)
    # a child left by a run whose worker died is killed with the worker's process group
    assert stored["f-child-exit"][0] == "failed"
    assert children_gone()
    # a plugin whose import crashes the worker: one line naming it, its runs fail, the others ran
    said = [line for line in err.splitlines() if SEGV in line and line.startswith("warning:")]
    assert len(said) == 1, err
    assert said[0] == (
        f"warning: plugin {SEGV!r} crashed a worker process on import (killed by SIGSEGV (a crash"
        " in native code)); its runs fail, the others run without it"
    )
    assert stored["segv-exp"][0] == "failed"
    assert stored["segv-exp"][1].startswith(f"plugin {SEGV!r} crashed the worker process on import")


@pytest.mark.slow
def test_inline_faults_end_the_sweep_without_a_traceback(plugins: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    experiments = "f-sigign,f-closefds,f-baseexc,f-huge,f-swallow,f-ok,f-thread"
    process = start(db, "--experiments", experiments, "--inline", "--timeout", "2")
    out, err = process.communicate(timeout=200)  # the thread left behind does not hold the exit
    assert process.returncode == 1, err
    assert "Traceback" not in err
    stored = runs(db)
    assert {e: s for e, (s, _) in stored.items()} == {
        "f-sigign": "done",
        "f-closefds": "done",
        "f-baseexc": "failed",
        "f-huge": "failed",
        "f-swallow": "timeout",
        "f-ok": "done",
        "f-thread": "done",
    }
    assert "changed the handler of SIGTERM (restored)" in stored["f-sigign"][1]
    assert "closed or redirected file descriptor 1 (restored)" in stored["f-closefds"][1]
    assert stored["f-baseexc"][1].startswith("the run raised Boom")
    assert_bounded(stored["f-huge"][1], err)
    assert "the run caught the timeout and went on, so it was stopped" in stored["f-swallow"][1]
    assert "left 1 non-daemon thread(s) running" in stored["f-thread"][1]
    assert "exiting without waiting for them" in err
    assert "sweep 1: failed" in out  # printed after fd 1 and 2 were closed and put back


@pytest.mark.slow
def test_inline_sigterm_stops_the_sweep_after_a_run_ignored_it(plugins: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    process = start(db, "--experiments", "f-sigign,f-wait", "--inline")
    try:
        mark = Path(os.environ["FAULT_MARK"])
        deadline = time.monotonic() + 120
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mark.exists(), process.stderr.read() if process.poll() is not None else ""
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert runs(db)["f-wait"][0] == "interrupted"
