"""One run cannot change another: each kind of process-global change a run can make, made by a
real plugin module in a real worker, then a probe and a built-in run in the same sweep.

The plugin ``pollutingplugin`` has one experiment per kind of change (``p-<kind>``). Each records,
as metrics, what the process looks like when it starts (the probe's snapshot: what a later run
sees) and its worker's pid, then changes its one thing. The runs execute in plan order on one
worker (``--workers 1``): every polluter's snapshot is therefore a probe run after the polluter
before it, and the sweep ends with ``probe`` and the built-in ``gradcheck``. Their stored results
must equal those of the same runs in a sweep of their own, and each polluter's reason must say
what it changed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixtures.processes import alive

PLUGIN = "pollutingplugin"

SOURCE = '''
"""Experiments that change process-global state, one kind each, and a probe of that state."""

import gc
import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

from scratchlab.plugins import Experiment, hookimpl

KEPT = []


def _crc(value):
    return float(zlib.crc32(repr(value).encode()))


def _children():
    pids = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            pids += f.read().split()
    return len(pids)


def snapshot(ctx):
    """What a run sees of its process, as metrics."""
    print("a run can print", flush=True)
    handlers = [getattr(signal.getsignal(s), "__qualname__", str(signal.getsignal(s)))
                for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGALRM)]
    x = torch.arange(9.0).reshape(3, 3)
    values = {
        "dtype_bits": torch.get_default_dtype().itemsize * 8,
        "grad": torch.is_grad_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "denormals_kept": (torch.tensor([1e-39]) * 2.0).item() != 0.0,
        "threads": torch.get_num_threads(),
        "rand_py": random.random(),
        "rand_np": float(np.random.rand()),
        "rand_torch": torch.rand(1).item(),
        "cwd": _crc(os.getcwd()),
        "environ": _crc(sorted(os.environ.items())),
        "path": _crc(sys.path),
        "filters": _crc(warnings.filters),
        "recursion": sys.getrecursionlimit(),
        "handlers": _crc(handlers),
        "alarm": signal.getitimer(signal.ITIMER_REAL)[0] > 0,
        "sigmask": _crc(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, ()))),
        "matmul": torch.matmul(x, x).sum().item() + (x @ x).sum().item(),
        "relu": F.relu(x - 4).sum().item(),
        "gc": gc.isenabled(),
        "threads_alive": sum(not t.daemon for t in threading.enumerate()),
        "children": _children(),
    }
    for name, value in values.items():
        ctx.metric(name, float(value))


def probe(ctx):
    snapshot(ctx)


def polluter(change):
    def run(ctx):
        snapshot(ctx)
        ctx.metric("pid", float(os.getpid()))
        change(ctx)
    run.__name__ = change.__name__
    return run


def p_dtype(ctx): torch.set_default_dtype(torch.float64)
def p_grad(ctx): torch.set_grad_enabled(False)
def p_anomaly(ctx): torch.autograd.set_detect_anomaly(True)
def p_denormal(ctx): torch.set_flush_denormal(True)
def p_threads(ctx): torch.set_num_threads(torch.get_num_threads() + 1)
def p_rng(ctx): random.seed(7); np.random.seed(7); torch.manual_seed(7)
def p_cwd(ctx): os.chdir("/")
def p_environ(ctx): os.environ["POLLUTED"] = "1"
def p_path(ctx): sys.path.insert(0, "/polluted")
def p_warnings(ctx): warnings.simplefilter("error")
def p_recursion(ctx): sys.setrecursionlimit(400)
def p_gc(ctx): gc.disable()
def p_signals(ctx):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda *a: None)
def p_sigmask(ctx): signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
def p_alarm(ctx): signal.alarm(3)
def p_streams(ctx): os.close(1); os.close(2)
def p_patch(ctx):
    torch.matmul = lambda a, b: a
    torch.Tensor.__matmul__ = lambda a, b: a
    F.relu = lambda x, inplace=False: x
def p_thread(ctx):
    threading.Thread(target=time.sleep, args=(float(os.environ.get("POLLUTE_THREAD_S", 0.5)),),
                     name="left-behind").start()
def p_child(ctx):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["POLLUTE_PIDS"], "a") as out:
        out.write(f"{child.pid}\\n")
def p_memory(ctx): KEPT.append(torch.ones(80 * 2**20))  # 320 MiB, every page touched


POLLUTERS = [p_dtype, p_grad, p_anomaly, p_denormal, p_threads, p_rng, p_cwd, p_environ,
             p_path, p_warnings, p_recursion, p_gc, p_signals, p_sigmask, p_alarm, p_streams, p_patch,
             p_thread, p_child, p_memory]


@hookimpl
def register_experiments(register):
    register(Experiment(name="probe", run=probe))
    for change in POLLUTERS:
        register(Experiment(name=change.__name__.replace("_", "-"), run=polluter(change)))
'''

#: polluter -> what its reason must say; the worker is replaced after the last four
RESTORED = {
    "p-dtype": "set the default dtype to torch.float64 (was torch.float32) (restored)",
    "p-grad": "set grad mode to False (was True) (restored)",
    "p-anomaly": "set anomaly detection to True (was False) (restored)",
    "p-denormal": "set flush-denormal to True (was False) (restored)",
    # run_experiment itself gives each run its thread count and puts the process's back after
    # it, whatever the backend (run_one.run_settings): nothing is left for the worker to restore
    "p-threads": None,
    # every run draws numbers and every run is seeded: restored without a word
    "p-rng": None,
    "p-cwd": "set the working directory to / (was",
    "p-environ": "changed environment variable(s) POLLUTED (restored)",
    "p-path": "changed sys.path (restored)",
    "p-warnings": "changed the warnings filters",
    "p-recursion": "set the recursion limit to 400 (was",
    "p-gc": "set garbage collection (enabled, thresholds) to (False,",
    "p-signals": "changed the handler of SIGUSR1, SIGTERM (restored)",
    "p-sigmask": "blocked SIGUSR2 signal(s) (restored)",
    "p-alarm": "left an armed real timer",
    "p-streams": "closed or redirected file descriptor 1",
}
REPLACED = {
    "p-patch": "replaced torch.matmul, torch.nn.functional.relu, torch.Tensor.__matmul__",
    "p-thread": "left 1 non-daemon thread(s) running ('left-behind')",
    "p-child": "left 1 child process(es) running",
    "p-memory": "MiB of memory after it ended",
}
POLLUTERS = [*RESTORED, *REPLACED]
#: what is compared between the polluted sweep and the runs alone
LATER = ("probe", "gradcheck")


@pytest.fixture
def polluting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin, importable by the sweep subprocesses and their workers."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / f"{PLUGIN}.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("POLLUTE_PIDS", str(tmp_path / "children.txt"))
    monkeypatch.setenv("SCRATCHLAB_WORKER_HELD_MEMORY", "200M")
    for name in ("SCRATCHLAB_DB", "SCRATCHLAB_WORKER_MEMORY", "SCRATCHLAB_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return root


def sweep(db: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """``runner --db DB --plugin pollutingplugin sweep ARGS -q`` as a real subprocess."""
    argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{db}"]
    return subprocess.run(
        [*argv, "--plugin", PLUGIN, "sweep", *args, "-q"],
        capture_output=True,
        text=True,
        cwd=db.parent,
        timeout=timeout,
    )


def stored(db: Path) -> dict[str, dict]:
    """experiment -> {status, reason, metrics, stats} of the first sweep's runs."""
    with contextlib.closing(sqlite3.connect(db)) as c:
        runs = c.execute("SELECT run_id, experiment, status, reason FROM runs").fetchall()
        out = {}
        for run_id, experiment, status, reason in runs:
            metrics = dict(c.execute("SELECT name, value FROM metrics WHERE run_id = ?", (run_id,)))
            stats = c.execute(
                "SELECT * FROM activation_stats WHERE run_id = ? ORDER BY 3, 4, 5", (run_id,)
            ).fetchall()
            out[experiment] = {
                "status": status,
                "reason": reason or "",
                "metrics": metrics,
                "stats": [row[2:] for row in stats],  # without the row's and the run's ids
            }
    return out


def snapshot(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "pid"}


@pytest.mark.slow
def test_each_change_is_undone_or_its_worker_replaced_and_later_runs_store_what_they_store_alone(
    polluting: Path, tmp_path: Path
):
    # both sweeps run in the same folder: the working directory is part of the snapshot. At
    # torch's own thread count: gradcheck's first exp runs on two threads, where oneMKL's
    # first-call race once stored other numbers (runner/mkl_dispatch.py)
    alone = sweep(tmp_path / "alone.db", "--experiments", ",".join(LATER), "--workers", "1")
    assert alone.returncode == 0, alone.stderr
    polluted_db = tmp_path / "polluted.db"
    run = sweep(polluted_db, "--experiments", ",".join([*POLLUTERS, *LATER]), "--workers", "1")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    before, after = stored(tmp_path / "alone.db"), stored(polluted_db)

    # the later runs store exactly what they store alone
    for experiment in LATER:
        assert after[experiment]["status"] == "done", after[experiment]["reason"]
        assert after[experiment]["metrics"] == before[experiment]["metrics"], experiment
        assert after[experiment]["stats"] == before[experiment]["stats"], experiment
    # every polluter started from the same state as the probe alone (each is a probe of the one before)
    for experiment in POLLUTERS:
        assert after[experiment]["status"] == "done", after[experiment]["reason"]
        assert snapshot(after[experiment]["metrics"]) == before["probe"]["metrics"], experiment

    # each polluter says what it changed, in one line
    for experiment, said in {**RESTORED, **REPLACED}.items():
        reason = after[experiment]["reason"]
        if said is None:
            assert reason == "", experiment
        else:
            assert said in reason and len(reason.splitlines()) == 1, (experiment, reason)
        assert ("its worker was replaced" in reason) == (experiment in REPLACED), reason
    # a restored change keeps the worker; a change that cannot be restored replaces it
    pids = [after[e]["metrics"]["pid"] for e in POLLUTERS]
    for i, experiment in enumerate(POLLUTERS[:-1]):
        assert (pids[i + 1] != pids[i]) == (experiment in REPLACED), experiment
    # the child process a run left is not left running after the sweep
    for pid in Path(os.environ["POLLUTE_PIDS"]).read_text().split():
        assert not alive(int(pid))
    assert "p-patch" in run.stderr and "replaced torch.matmul" in run.stderr  # said as it happened


@pytest.mark.slow
def test_inline_undoes_what_it_can_and_says_in_one_line_what_it_cannot(
    polluting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("POLLUTE_THREAD_S", "600")  # the command must still end
    alone = sweep(tmp_path / "alone.db", "--experiments", "probe,gradcheck", "--inline")
    assert alone.returncode == 0, alone.stderr
    polluted_db = tmp_path / "polluted.db"
    # p-thread last: its thread stays (nothing can stop it), and the probe would count it
    polluters = [p for p in POLLUTERS if p != "p-thread"]
    experiments = [*polluters, *LATER, "p-thread"]
    run = sweep(polluted_db, "--experiments", ",".join(experiments), "--inline", timeout=200)
    assert run.returncode == 0, run.stderr
    before, after = stored(tmp_path / "alone.db"), stored(polluted_db)
    for experiment in LATER:
        assert after[experiment]["metrics"] == before[experiment]["metrics"], experiment
        assert after[experiment]["stats"] == before[experiment]["stats"], experiment
    for experiment in polluters:
        assert snapshot(after[experiment]["metrics"]) == before["probe"]["metrics"], experiment
    for experiment, said in RESTORED.items():
        assert said is None or said in after[experiment]["reason"], experiment
    assert "replaced torch.matmul" in after["p-patch"]["reason"]
    assert "--inline cannot replace its process; put back" in after["p-patch"]["reason"]
    assert "children killed" in after["p-child"]["reason"]
    assert "--inline cannot replace its process" in after["p-thread"]["reason"]
    assert "--inline cannot replace its process" in after["p-memory"]["reason"]
    # one warning line for each, as it happened
    warned = [line for line in run.stderr.splitlines() if "cannot replace its process" in line]
    assert len(warned) == 4, run.stderr
    for pid in Path(os.environ["POLLUTE_PIDS"]).read_text().split():
        assert not alive(int(pid))


@pytest.mark.slow
def test_max_runs_per_worker_recycles_workers_on_a_count(polluting: Path, tmp_path: Path):
    db = tmp_path / "runs.db"
    run = sweep(
        db, "--experiments", "p-dtype,p-grad,p-anomaly,probe,p-rng", "--workers", "1",
        "--max-runs-per-worker", "2",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    pids = [stored(db)[e]["metrics"]["pid"] for e in ("p-dtype", "p-grad", "p-anomaly", "p-rng")]
    assert pids[0] == pids[1] != pids[2] and pids[3] not in pids[:3]
    refused = sweep(db, "--experiments", "probe", "--inline", "--max-runs-per-worker", "2")
    assert refused.returncode == 2
    assert "--max-runs-per-worker recycles supervised worker processes" in refused.stderr


def test_a_note_keeps_a_tracebacks_last_line_last():
    from scratchlab.runner.isolation import add_note

    traceback = "Traceback (most recent call last):\n  File x\nValueError: boom"
    assert add_note(traceback, "the run changed its process: x").splitlines()[-1] == (
        "ValueError: boom"
    )
    assert add_note("one line", "note") == "one line\nnote"
    assert add_note(None, "note") == "note" and add_note("r", None) == "r"
