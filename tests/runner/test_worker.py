"""Hostile plugin code in supervised workers: each fault costs one run, never the sweep.

Every test runs a real ``runner sweep`` subprocess with a real plugin module
whose experiments misbehave one way each (``os._exit``, ``sys.exit``,
``KeyboardInterrupt``, a segfault through ctypes, a loop that swallows the
timeout, an allocation over the worker's memory limit), and reads what the
sweep stored with ``sqlite3``.
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

FAULTY = "faultyplugin"

FAULTY_SOURCE = '''
"""Experiments that misbehave, one way each; ok ones record where and how they ran."""

import ctypes
import os
import sys
import time

from scratchlab.plugins import Experiment, hookimpl


def _where(ctx):
    import torch

    ctx.metric("pid", float(os.getpid()))
    ctx.metric("threads", float(torch.get_num_threads()))


def ok(ctx):
    print("ok was here")
    _where(ctx)


def window(ctx):
    """Records when it ran (wall clock), for checking what ran beside what. With ``meet`` > 1 it
    first waits (up to a minute) until that many runs have begun: the first worker of a sweep
    starts before the others, and on a busy machine it could otherwise run them all alone."""
    _where(ctx)
    ctx.metric("start", time.time())
    begun = os.environ["FAULTY_PIDS"] + ".begun"
    with open(begun, "a") as out:
        out.write("x")
    deadline = time.time() + 60
    while ctx.params["meet"] > 1 and time.time() < deadline:
        with open(begun) as f:
            if len(f.read()) >= ctx.params["meet"]:
                break
        time.sleep(0.05)
    time.sleep(ctx.params["seconds"])
    ctx.metric("end", time.time())


def exits(ctx):
    print("about to os._exit(3)", flush=True)
    os._exit(3)


def sysexit(ctx):
    sys.exit(4)


def interrupt(ctx):
    raise KeyboardInterrupt


def segfault(ctx):
    print("about to read address 0", flush=True)
    ctypes.string_at(0)


def swallow(ctx):
    ctx.metric("started", 1.0)
    with open(os.environ["FAULTY_PIDS"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    while True:
        try:
            time.sleep(0.05)
        except Exception:  # the runner's timeout too
            pass


def hog(ctx):
    import torch

    big = torch.empty(int(ctx.params["gib"] * 2**30), dtype=torch.uint8)
    big.fill_(1)


def killer(ctx):
    with open(os.environ["FAULTY_PIDS"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    os._exit(9)


@hookimpl
def register_experiments(register):
    for fn in (ok, exits, sysexit, interrupt, segfault, swallow, killer):
        register(Experiment(name=f"f-{fn.__name__}", run=fn))
    register(Experiment(name="f-hog", run=hog, params={"gib": 8.0}))
    register(Experiment(name="f-window", run=window, params={"seconds": 1.0, "meet": 0}))
    register(
        Experiment(
            name="f-exclusive", run=window, params={"seconds": 1.0, "meet": 0}, exclusive=True
        )
    )
'''


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the faulty plugin module, importable by subprocesses and their workers."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / f"{FAULTY}.py").write_text(textwrap.dedent(FAULTY_SOURCE))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("FAULTY_PIDS", str(tmp_path / "pids.txt"))
    for name in ("SCRATCHLAB_DB", "SCRATCHLAB_STRICT_PLUGINS", "SCRATCHLAB_WORKER_MEMORY"):
        monkeypatch.delenv(name, raising=False)
    return root


def runner(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``runner --db DB --plugin faultyplugin sweep ARGS`` as a real subprocess."""
    argv = [
        sys.executable,
        "-m",
        "scratchlab.runner.cli",
        "--db",
        f"sqlite:///{db}",
        "--plugin",
        FAULTY,
        "sweep",
    ]
    return subprocess.Popen(
        [*argv, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=db.parent,
    )


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql, params).fetchall()


def runs(db: Path) -> dict[str, tuple[str, str]]:
    """experiment -> (status, reason) of sweep 1."""
    return {
        e: (s, r or "")
        for e, s, r in query(db, "SELECT experiment, status, reason FROM runs WHERE sweep_id = 1")
    }


def metrics(db: Path, experiment: str) -> list[dict[str, float]]:
    """The metrics of each run of ``experiment``, one dict per run."""
    out: dict[int, dict[str, float]] = {}
    for run_id, name, value in query(
        db,
        "SELECT run_id, name, value FROM metrics JOIN runs USING (run_id) WHERE experiment = ?",
        experiment,
    ):
        out.setdefault(run_id, {})[name] = value
    return list(out.values())


@pytest.mark.slow
def test_every_fault_costs_one_run_and_the_sweep_goes_on(faulty: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    # one worker, so each fault must be survived by a replacement for the next run to happen
    process = runner(
        db,
        "--experiments",
        "f-exits,f-sysexit,f-interrupt,f-segfault,f-swallow,f-hog,f-ok",
        "--workers",
        "1",
        "--timeout",
        "2",
        "-q",
        env={"SCRATCHLAB_WORKER_MEMORY": "1G"},
    )
    out, err = process.communicate(timeout=280)
    assert process.returncode == 1, (
        err
    )  # some runs failed: the sweep's own exit code, not a plugin's
    assert "Traceback" not in err and "Fatal Python error" not in err + out
    stored = runs(db)
    assert {e: s for e, (s, _) in stored.items()} == {
        "f-exits": "failed",
        "f-sysexit": "failed",
        "f-interrupt": "failed",
        "f-segfault": "failed",
        "f-swallow": "timeout",
        "f-hog": "failed",
        "f-ok": "done",
    }
    first = {e: r.splitlines()[0] for e, (_, r) in stored.items() if r}
    assert first["f-exits"].startswith("the worker process exited with code 3 during the run")
    assert "about to os._exit(3)" in stored["f-exits"][1]  # the run's output tail
    assert first["f-sysexit"] == "the experiment called sys.exit(4)"
    assert first["f-interrupt"] == "the run raised KeyboardInterrupt"
    assert first["f-segfault"].startswith("the worker process was killed by SIGSEGV")
    assert "about to read address 0" in stored["f-segfault"][1]
    assert "in segfault" in stored["f-segfault"][1]  # faulthandler's stack of the crash
    # stopped in its worker a second after it swallowed the timeout, or (on a machine too busy
    # for that second) killed with its worker after the grace period
    assert first["f-swallow"].endswith(
        "the run caught the timeout and went on, so it was stopped"
    ) or first["f-swallow"].startswith("timed out: the run did not stop within --timeout 2s")
    assert first["f-hog"].startswith("out of memory:")
    assert query(db, "SELECT status FROM sweeps") == [("failed",)]
    (ok,) = metrics(db, "f-ok")
    assert int(ok["pid"]) != process.pid  # it ran in a worker


def test_sys_exit_does_not_escape_run_experiment(faulty: Path, monkeypatch: pytest.MonkeyPatch):
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.plan import plan
    from scratchlab.runner.run_one import run_experiment
    from scratchlab.runner.spec import SweepSpec

    monkeypatch.syspath_prepend(str(faulty))
    try:
        plugins = load_plugins([FAULTY])
        (planned,) = plan(SweepSpec(experiments=("f-sysexit",)), plugins.registry)
        result = run_experiment(plugins, planned)
    finally:
        sys.modules.pop(FAULTY, None)
    assert result.status == "failed"
    assert result.reason.startswith("the experiment called sys.exit(4)")


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="sharing needs two cores")
def test_shared_runs_run_side_by_side_and_an_exclusive_run_runs_alone(faulty: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    process = runner(
        db, "--experiments", "f-window,f-exclusive", "--repeat", "3", "--workers", "2", "-q",
        "-s", "f-window.meet=2",
    )  # fmt: skip
    _, err = process.communicate(timeout=280)
    assert process.returncode == 0, err
    shared, exclusive = metrics(db, "f-window"), metrics(db, "f-exclusive")
    assert len(shared) == 3 and len(exclusive) == 3
    for alone in exclusive:
        for other in shared + [e for e in exclusive if e is not alone]:
            assert other["end"] <= alone["start"] or other["start"] >= alone["end"], (
                "a run ran beside an exclusive one"
            )
    # two workers really shared the work: some shared runs overlapped, in two processes
    assert any(
        a["start"] < b["end"] and b["start"] < a["end"]
        for a in shared
        for b in shared
        if a is not b
    )
    assert len({m["pid"] for m in shared}) == 2
    # threads: shared runs split the cores, an exclusive run gets them all
    cores = len(os.sched_getaffinity(0))
    assert {m["threads"] for m in shared} == {max(1, cores // 2)}
    assert {m["threads"] for m in exclusive} == {cores}


@pytest.mark.slow
def test_workers_die_with_a_driver_killed_by_sigkill(faulty: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    pids = Path(os.environ["FAULTY_PIDS"])
    process = runner(db, "--experiments", "f-swallow", "--workers", "1", "-q")
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(pids.read_text().split()[0])
        began = start_time(worker)
        assert began is not None
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        deadline = time.monotonic() + 60
        while start_time(worker) == began and time.monotonic() < deadline:
            time.sleep(0.1)
        assert start_time(worker) != began, "the worker outlived its driver"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_a_dask_task_that_kills_its_worker_fails_after_one_retry_without_tracebacks(
    faulty: Path, tmp_path: Path
):
    pytest.importorskip("distributed")
    db = tmp_path / "runs.db"
    process = runner(
        db,
        "--experiments",
        "f-killer,f-sysexit,f-interrupt,f-ok",
        "--scheduler",
        "local",
        "--workers",
        "2",
        "-q",
    )
    _, err = process.communicate(timeout=280)
    assert process.returncode == 1, err
    stored = runs(db)
    assert {e: s for e, (s, _) in stored.items()} == {
        "f-killer": "failed",
        "f-sysexit": "failed",
        "f-interrupt": "failed",
        "f-ok": "done",
    }
    assert "KilledWorker" in stored["f-killer"][1]
    assert stored["f-sysexit"][1].startswith("the experiment called sys.exit(4)")
    assert "KeyboardInterrupt" in stored["f-interrupt"][1]
    attempts = Path(os.environ["FAULTY_PIDS"]).read_text().split()
    assert 1 <= len(attempts) <= 2  # tried, retried at most once
    assert "Traceback" not in err
    assert len(err.splitlines()) < 20


@pytest.mark.slow
def test_threads_are_a_swept_run_setting_applied_in_the_worker_and_stored(
    faulty: Path, tmp_path: Path
):
    db = tmp_path / "runs.db"
    process = runner(db, "--experiments", "f-ok", "--threads", "1,2,auto", "--workers", "1", "-q")
    _, err = process.communicate(timeout=280)
    assert process.returncode == 0, err
    # auto is every usable core of the one worker; the count a run ran with is part of its
    # key (issue 21), so auto and an equal given count are one run, not two
    settings = sorted({1.0, 2.0, float(len(os.sched_getaffinity(0)))})
    assert sorted(m["threads"] for m in metrics(db, "f-ok")) == settings
    stored = query(
        db, "SELECT p.value_num FROM params p JOIN runs USING (run_id) WHERE p.name = 'threads'"
    )
    assert sorted(v for (v,) in stored) == settings  # every run's count is a filterable row
    bad = runner(db, "--experiments", "f-ok", "--threads", "0", "-q")
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and err.strip().splitlines()[-1].endswith(
        "give auto or integers 1 to 1024"
    )
    assert query(db, "SELECT count(*) FROM sweeps") == [(1,)]  # nothing written for the bad value
