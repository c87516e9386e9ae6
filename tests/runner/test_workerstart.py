"""Workers forked from a server that has imported torch: what the user sees is what a spawned
worker gave (the driver's current environment, a process group of its own, death with the
driver), and ``SCRATCHLAB_WORKER_START=spawn`` brings spawned workers back."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.processes import alive

from scratchlab.runner.cli import cli
from scratchlab.runner.workerproc import caller_main_hidden, stop_early
from scratchlab.runner.workerstart import START_ENV, forked, stop_server, worker_context

PROBE = '''
"""Runs that record the process they ran in."""

import os
import time

from scratchlab.plugins import Experiment, hookimpl


def probe(ctx):
    ctx.metric("probe", float(os.environ.get("SL_PROBE", "0")))
    ctx.metric("pid", float(os.getpid()))
    ctx.metric("ppid", float(os.getppid()))
    ctx.metric("pgid", float(os.getpgid(0)))


def hang(ctx):
    with open(os.environ["SL_PIDS"], "a") as out:
        out.write(f"{os.getpid()} {os.getppid()}\\n")
    time.sleep(600)


@hookimpl
def register_experiments(register):
    register(Experiment(name="probe", run=probe))
    register(Experiment(name="hang", run=hang))
'''


def _metrics(db: Path, sweep: int) -> list[dict[str, float]]:
    """The metrics of each run of sweep ``sweep``, one dict per run."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(
            "SELECT run_id, name, value FROM metrics JOIN runs USING (run_id) WHERE sweep_id = ?",
            (sweep,),
        ).fetchall()
    out: dict[int, dict[str, float]] = {}
    for run_id, name, value in rows:
        out.setdefault(run_id, {})[name] = value
    return list(out.values())


def _sweep(db: Path) -> None:
    args = ["--db", f"sqlite:///{db}", "--plugin", "probeplugin", "sweep"]
    args += ["--experiments", "probe", "--repeat", "4", "--workers", "2", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def fresh_server():
    """No forkserver running: an earlier test in this process may have started one under
    another environment (after which a changed startup variable rightly means spawn)."""
    stop_early()
    stop_server()
    yield
    stop_server()


@pytest.fixture
def probe_plugin(plugin_path, clean_plugin_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    monkeypatch.delenv(START_ENV, raising=False)
    return plugin_path({"probeplugin": PROBE})


@pytest.mark.slow
def test_a_sweep_sees_the_environment_the_driver_has_now(
    fresh_server, probe_plugin, tmp_path, monkeypatch
):
    db = tmp_path / "runs.db"
    monkeypatch.setenv("SL_PROBE", "1")
    _sweep(db)
    monkeypatch.setenv("SL_PROBE", "2")  # after the forkserver started with the first sweep
    _sweep(db)
    first, second = _metrics(db, 1), _metrics(db, 2)
    assert [m["probe"] for m in first] == [1.0] * 4
    assert [m["probe"] for m in second] == [2.0] * 4
    # workers were forked (their parent is the server, not this driver), each leads its group
    assert any(m["ppid"] != os.getpid() for m in second)
    assert all(m["pgid"] == m["pid"] for m in first + second)


@pytest.mark.slow
def test_worker_start_spawn_starts_every_worker_from_the_driver(
    probe_plugin, tmp_path, monkeypatch
):
    db = tmp_path / "runs.db"
    monkeypatch.setenv(START_ENV, "spawn")
    _sweep(db)
    _sweep(db)
    assert {m["ppid"] for m in _metrics(db, 1) + _metrics(db, 2)} == {float(os.getpid())}


@pytest.mark.slow
def test_forked_workers_and_their_server_die_with_a_driver_killed_by_sigkill(tmp_path, monkeypatch):
    (tmp_path / "probeplugin.py").write_text(PROBE)
    pids = tmp_path / "pids.txt"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.setenv("SL_PIDS", str(pids))
    monkeypatch.delenv(START_ENV, raising=False)
    argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{tmp_path / 'r.db'}"]
    argv += ["--plugin", "probeplugin", "sweep", "--experiments", "hang", "--repeat", "2"]
    driver = subprocess.Popen([*argv, "--workers", "2", "-q"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(_lines(pids)) < 2:
            time.sleep(0.1)
        workers = [tuple(map(int, line.split())) for line in _lines(pids)]
        assert len(workers) == 2
        servers = {ppid for _pid, ppid in workers} - {driver.pid}
        assert servers, "no worker was forked from the server"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 60
        left = [p for p in [*servers, *(pid for pid, _ in workers)] if alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [p for p in left if alive(p)]
        assert not left, "a worker or the forkserver outlived its driver"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_accelerator_sweeps_and_the_escape_hatch_spawn(fresh_server, monkeypatch):
    monkeypatch.delenv(START_ENV, raising=False)
    assert worker_context(("cpu",)).get_start_method() == "forkserver"
    # a CUDA context must never be forked: an accelerator's workers start fresh
    assert worker_context(("cpu", "cuda:0")).get_start_method() == "spawn"
    monkeypatch.setenv(START_ENV, "spawn")
    assert worker_context(("cpu",)).get_start_method() == "spawn"


def test_a_changed_startup_variable_replaces_an_idle_server_and_spawns_beside_a_busy_one(
    fresh_server, monkeypatch
):
    """OMP_NUM_THREADS is read when torch loads: a fork of a server started without it cannot
    have it. An idle server is replaced (one import of torch, then forks again); one whose
    workers still run is kept, and the new workers spawn."""
    monkeypatch.delenv(START_ENV, raising=False)
    context = worker_context(("cpu",))
    first = _server_pid()
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "") + "7")
    assert worker_context(("cpu",)).get_start_method() == "forkserver"
    second = _server_pid()
    assert second != first and not alive(first)
    busy = context.Process(target=time.sleep, args=(60,), daemon=True)
    with caller_main_hidden():
        busy.start()
    forked(context, busy)
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", os.environ["OMP_NUM_THREADS"] + "8")
        assert worker_context(("cpu",)).get_start_method() == "spawn"
        assert _server_pid() == second
    finally:
        busy.kill()
        busy.join()
    assert worker_context(("cpu",)).get_start_method() == "forkserver"
    assert _server_pid() not in (first, second)


def _server_pid() -> int | None:
    """The running forkserver's process id (the standard library's own record)."""
    from multiprocessing import forkserver

    return forkserver._forkserver._forkserver_pid


def _carrying(marker: str) -> list[int]:
    """The living processes whose environment holds ``marker`` (Linux: /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "environ").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_sweep_refused_before_its_first_run_leaves_no_process_importing_torch(tmp_path):
    """The forkserver starts while the driver plans; a typo found in planning must not leave it
    computing (its import of torch, about 1.2 s of CPU) after the prompt came back."""
    marker = f"SL_MARK_{os.getpid()}_{time.monotonic_ns()}"
    env = {**os.environ, marker: "1"}
    env.pop(START_ENV, None)
    argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{tmp_path / 'r.db'}"]
    argv += ["sweep", "--plugins", "matmul", "-s", "matmul.bogus=1"]
    # into a file, not a pipe: reading a pipe to its end would wait for every process that
    # inherited it, the server among them
    with open(tmp_path / "err.txt", "w") as err:
        done = subprocess.run(argv, env=env, cwd=tmp_path, stderr=err, timeout=120)
    assert done.returncode == 2 and "has no param 'bogus'" in (tmp_path / "err.txt").read_text()
    assert _carrying(marker) == [], "a process the refused sweep started outlived it"
    assert not (tmp_path / "r.db").exists()
