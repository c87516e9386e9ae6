"""Fixtures for the sweep engine's tests: a throwaway plugin of tiny experiments.

The plugin module ``sweeptoy`` is written into a temporary folder that is put
on ``sys.path`` (for in-process ``CliRunner`` calls) and on ``PYTHONPATH``
(for ``runner`` subprocesses and Dask worker processes), and loaded with the
global ``--plugin sweeptoy`` option like any unpackaged plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scratchlab.runner.cli import cli

TOY_MODULE = "sweeptoy"

TOY_SOURCE = '''
"""Tiny experiments for the sweep engine's tests."""

import os
import time

from scratchlab.plugins import Experiment, Matmul, Skip, hookimpl


def toy_mm(a, b, *, bias=0.0):
    return a @ b + bias


@hookimpl
def register_matmuls(register):
    for name in ("toy-a", "toy-b", "toy-c"):
        register(Matmul(name=name, fn=toy_mm, params={"bias": 0.0}, description="a @ b + bias"))


def noop(ctx):
    ctx.metric("one", 1.0)


def echo(ctx):
    """Deterministic numbers from the matmul, params and seed: equal on any backend."""
    import torch

    n = ctx.params["n"]
    a = torch.randn(n, n, dtype=ctx.dtype)
    out = ctx.matmul.fn(a, a.T) * ctx.params["scale"]
    ctx.metric("sum", float(out.sum()))
    ctx.metric("seed", float(ctx.seed))
    ctx.stats("toy", 1, "out", out)


def sleepy(ctx):
    import torch

    time.sleep(ctx.params["seconds"])
    ctx.metric("slept", ctx.params["seconds"])
    ctx.metric("pid", float(os.getpid()))
    ctx.metric("threads", float(torch.get_num_threads()))


def boom(ctx):
    ctx.metric("before", 1.0)
    raise RuntimeError("boom on purpose")


def hang(ctx):
    # never calls check_budget: only SIGALRM (inline) or the driver (Dask) stops it
    ctx.metric("started", 1.0)
    while True:
        time.sleep(0.05)


def skippy(ctx):
    raise Skip("too big for this toy")


def climb(ctx):
    """Reports score = x * step (twice that for kind b) at steps 1..steps: a pruner may stop it."""
    scale = 2.0 if ctx.params["kind"] == "b" else 1.0
    for step in range(1, ctx.params["steps"] + 1):
        time.sleep(ctx.params["pause"])
        ctx.report("score", scale * ctx.params["x"] * step, step)


def stubborn(ctx):
    """A beat every 0.05 s, its time budget ignored: only the driver can stop it."""
    step = 0
    while True:
        try:
            ctx.metric("beat", float(step), step)
            step += 1
            time.sleep(0.05)
        except Exception:
            pass


def spin(ctx):
    """Pure-Python CPU work, as the lessons' triple-loop matmul: one core, holds the GIL."""
    total = 0
    for i in range(ctx.params["loops"]):
        total += i * i % 7
    ctx.metric("total", float(total))


def jittery(ctx):
    """A timing judged noisy the first ``noisy_times`` times it is measured (counted in a file)."""
    import fcntl

    with open(ctx.params["counter"], "a+") as counter:  # one mark per measurement, workers in turn
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        seen = len(counter.read())
        counter.write("x")
    record = ctx.timing("nothing", lambda: None, min_run_time=0.01)
    if seen < ctx.params["noisy_times"]:
        # what a busy machine leaves behind: replicates that disagree (db.quality.SPREAD_LIMIT)
        record.quality, record.evidence = "noisy", {**(record.evidence or {}), "spread": 9.0}
    else:
        record.quality, record.evidence = "ok", None  # no evidence: the verdict stands as given
    ctx.metric("measured", float(seen + 1))


@hookimpl
def register_experiments(register):
    register(Experiment(name="noop", run=noop, description="records one metric"))
    register(Experiment(name="echo", run=echo, uses=("matmul",), params={"n": 4, "scale": 1.0, "tags": ["a"]},
                        description="a deterministic matmul"))
    register(Experiment(name="sleepy", run=sleepy, params={"seconds": 0.2}, description="sleeps"))
    register(Experiment(name="boom", run=boom, uses=("matmul",), description="always raises"))
    register(Experiment(name="hang", run=hang, description="never returns"))
    register(Experiment(name="skippy", run=skippy, description="always skips"))
    register(Experiment(name="climb", run=climb, params={"x": 0.5, "steps": 4, "pause": 0.0, "kind": "a"},
                        description="reports a score per step"))
    register(Experiment(name="stubborn", run=stubborn, description="ignores its budget"))
    register(Experiment(name="spin", run=spin, params={"loops": 200000}, description="burns CPU"))
    register(Experiment(name="jittery", run=jittery, params={"counter": "", "noisy_times": 1},
                        description="a timing judged noisy at first"))
'''

OBSERVER_MODULE = "sweepwatch"

OBSERVER_SOURCE = '''
"""An observer plugin that logs every hook call to a JSON-lines file, and one that breaks."""

import contextlib
import json
import os

from scratchlab.plugins import hookimpl


def _log(event, **fields):
    with open(os.environ["SWEEPWATCH_LOG"], "a") as out:
        out.write(json.dumps({"event": event, **fields}, default=str) + "\\n")


@hookimpl
def sweep_started(sweep, runs):
    _log("sweep_started", sweep_id=sweep["sweep_id"], name=sweep["name"], n_runs=len(runs),
         has_environment=bool(sweep["environment"]), run_keys=[r["key"] for r in runs])


@hookimpl
def run_finished(sweep, run, result):
    _log("run_finished", sweep_id=sweep["sweep_id"], run_id=run["run_id"], experiment=run["experiment"],
         status=result.status)


@hookimpl
def sweep_finished(sweep, counts):
    _log("sweep_finished", sweep_id=sweep["sweep_id"], counts=counts)
'''

BROKEN_OBSERVER_MODULE = "sweepbroken"

BROKEN_OBSERVER_SOURCE = """
from scratchlab.plugins import hookimpl


@hookimpl
def run_finished(run):
    raise ValueError("observer bug")
"""


@pytest.fixture
def toy_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the toy plugin modules, importable here, in subprocesses and on Dask workers."""
    root = tmp_path / "toyplugins"
    root.mkdir()
    for name, source in (
        (TOY_MODULE, TOY_SOURCE),
        (OBSERVER_MODULE, OBSERVER_SOURCE),
        (BROKEN_OBSERVER_MODULE, BROKEN_OBSERVER_SOURCE),
    ):
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("SCRATCHLAB_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("SCRATCHLAB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    yield root
    for name in (TOY_MODULE, OBSERVER_MODULE, BROKEN_OBSERVER_MODULE):
        sys.modules.pop(name, None)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """Where a test's results database lives (not created until a sweep writes)."""
    return tmp_path / "results.db"


@pytest.fixture
def sweep(toy_path: Path, db_file: Path) -> Callable[..., Result]:
    """``sweep("--experiments", "noop")`` runs ``runner --db <db_file> --plugin sweeptoy sweep ...`` in-process."""

    def invoke(
        *args: str, plugins: tuple[str, ...] = (TOY_MODULE,), env: dict[str, str] | None = None
    ) -> Result:
        argv = ["--db", f"sqlite:///{db_file}"]
        for module in plugins:
            argv += ["--plugin", module]
        return CliRunner().invoke(cli, [*argv, "sweep", *args], env=env, catch_exceptions=False)

    return invoke


class ResultsDB:
    """Reads a test's SQLite results file directly with ``sqlite3``, bypassing the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Rows of ``sql``."""
        with contextlib.closing(sqlite3.connect(self.path)) as connection:
            return connection.execute(sql, params).fetchall()

    def statuses(self, sweep_id: int = 1) -> dict[str, str]:
        """key -> status of one sweep's runs."""
        return dict(self.query("SELECT key, status FROM runs WHERE sweep_id = ?", sweep_id))

    def count(self, table: str) -> int:
        """Rows in ``table``."""
        return self.query(f"SELECT count(*) FROM {table}")[0][0]


@pytest.fixture
def results(db_file: Path) -> ResultsDB:
    """The test's results database, read through SQL."""
    return ResultsDB(db_file)


@pytest.fixture
def runner_process(toy_path: Path, db_file: Path) -> Callable[..., subprocess.Popen]:
    """``runner_process("--experiments", "sleepy")`` starts ``runner --db ... --plugin sweeptoy
    sweep ...`` as a real subprocess (stdout and stderr piped, text); killed at teardown if still alive."""
    started: list[subprocess.Popen] = []

    def start(*args: str, plugins: tuple[str, ...] = (TOY_MODULE,)) -> subprocess.Popen:
        argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{db_file}"]
        for module in plugins:
            argv += ["--plugin", module]
        process = subprocess.Popen(
            [*argv, "sweep", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=toy_path.parent,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def plan_of(result: Result) -> dict:
    """The JSON a ``--dry-run --json`` printed (asserting the command succeeded)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def dry_plan(sweep: Callable[..., Result]) -> Callable[..., dict]:
    """``dry_plan("--plugins", "matmul")``: the plan JSON of a dry run."""
    return lambda *args, **kw: plan_of(sweep(*args, "--dry-run", "--json", **kw))
