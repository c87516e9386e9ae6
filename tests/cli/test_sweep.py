"""``runner sweep`` in-process: the plan, usage errors, failures, timeouts, hooks, resume and re-runs."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import pytest

from scratchlab.runner.run_keys import run_identity

# --------------------------------------------------------------------------- the plan


def test_default_experiments_are_those_using_a_swept_category(dry_plan):
    plan = dry_plan("--plugins", "matmul")
    experiments = {r["experiment"] for r in plan["runs"]}
    assert {"matmul", "train"} <= experiments  # the built-ins using matmul
    # a plugin's experiments run only when named (H1: installing a plugin never changes the README's job)
    assert not experiments & {"echo", "boom", "noop", "sleepy", "hang", "init-stats"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--plugins", "matmul,optimiser"],
            "unknown category 'optimiser'; valid: matmul, init, activation, loss, dataset",
        ),
        (["--matmul", "toy-a,toy-z"], "unknown matmul 'toy-z'; valid: python, elementwise"),
        (["--experiments", "ecko"], "unknown experiment 'ecko'; valid: matmul, init-stats"),
        (
            ["--experiments", "echo", "-s", "echo.m=1"],
            "experiment 'echo' has no param 'm'; params: n, scale, tags",
        ),
        (
            ["--experiments", "echo", "-s", "echo.n=lots"],
            "echo.n='lots': expected an integer (default 4)",
        ),
        (["--experiments", "echo", "-s", "echo.n"], "expected NAME.PARAM=VALUE"),
        (["--experiments", "echo", "-s", "echo.n=1", "-s", "echo.n=2"], "sets echo.n twice"),
        (
            ["--experiments", "noop", "--device", "tpu"],
            "unknown device 'tpu'; valid: cpu, cuda, cuda:N, mps",
        ),
        (["--experiments", "noop", "--data-path", "/no/such/file"], "does not exist"),
        (
            ["--experiments", "noop", "--workers", "2", "--scheduler", "tcp://x:1"],
            "--workers sets the local worker count",
        ),
        (["--resume", "1", "--plugins", "matmul"], "cannot be combined with --plugins"),
        (["--resume", "1", "--rerun-failed", "1"], "give --resume or --rerun-failed, not both"),
        ([], "nothing to sweep"),
    ],
)
def test_usage_errors_exit_2_with_one_line_before_anything_runs(
    sweep, db_file: Path, args, message
):
    result = sweep(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not db_file.exists()


def test_an_unavailable_cuda_device_is_a_usage_error(sweep, db_file: Path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = sweep("--experiments", "noop", "--device", "cpu,cuda")
    assert result.exit_code == 2
    assert "device 'cuda' is not available" in result.stderr
    assert not db_file.exists()


# --------------------------------------------------------------------------- running


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_a_failing_plugin_is_recorded_with_its_traceback_and_the_others_finish(sweep, results):
    result = sweep("--experiments", "boom,echo,skippy", "--matmul", "toy-a,toy-b", "-q")
    assert result.exit_code == 1, result.output
    rows = results.query("SELECT experiment, status, reason FROM runs ORDER BY run_id")
    assert [(e, s) for e, s, _ in rows] == [
        ("boom", "failed"),
        ("boom", "failed"),
        ("echo", "done"),
        ("echo", "done"),
        ("skippy", "skipped"),
    ]
    for _, _, reason in rows[:2]:
        assert reason.startswith("Traceback (most recent call last)")
        assert "RuntimeError: boom on purpose" in reason
    assert rows[4][2] == "too big for this toy"
    # what the failing run recorded before it raised is kept
    assert results.query(
        "SELECT count(*) FROM metrics JOIN runs USING (run_id) WHERE experiment = 'boom'"
    ) == [(2,)]
    assert results.query("SELECT status FROM sweeps") == [("failed",)]
    # the summary, one row per experiment, counts by status
    assert "boom" in result.stdout and "failed" in result.stdout
    assert "RuntimeError: boom on purpose" in result.stderr  # the log line says why


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_a_sweep_where_every_run_is_done_or_skipped_exits_0(sweep, results):
    result = sweep("--experiments", "echo,skippy", "--matmul", "toy-a", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "done"
    assert {
        row["experiment"]: (row.get("done"), row.get("skipped")) for row in summary["experiments"]
    } == {
        "echo": (1, 0),
        "skippy": (0, 1),
        "total": (1, 1),
    }
    assert results.query("SELECT status, finished_at IS NOT NULL FROM sweeps") == [("done", 1)]


def test_a_hanging_run_is_stopped_by_timeout_and_keeps_what_it_recorded(sweep, results):
    # inline: the run's own alarm stops it, so what it recorded is kept (a supervised worker is killed)
    started = time.monotonic()
    result = sweep("--experiments", "hang,noop", "--timeout", "1", "--inline", "-q")
    assert time.monotonic() - started < 20
    assert result.exit_code == 1, result.output
    assert results.query("SELECT experiment, status FROM runs ORDER BY run_id") == [
        ("hang", "timeout"),
        ("noop", "done"),
    ]
    (reason,) = results.query("SELECT reason FROM runs WHERE experiment = 'hang'")[0]
    assert "time budget of 1 s exceeded" in reason
    assert results.query(
        "SELECT name FROM metrics JOIN runs USING (run_id) WHERE experiment = 'hang'"
    ) == [("started",)]


def test_fail_fast_stops_at_the_first_failure_and_resume_finishes(sweep, results):
    # inline: one run at a time, so nothing else has started when boom fails
    result = sweep(
        "--experiments", "boom,echo", "--matmul", "toy-a", "--fail-fast", "--inline", "-q"
    )
    assert result.exit_code == 1
    assert results.query("SELECT experiment, status FROM runs ORDER BY run_id") == [
        ("boom", "failed"),
        ("echo", "pending"),
    ]
    assert "--resume 1" in result.stdout
    resumed = sweep("--resume", "1", "--inline", "-q")
    assert resumed.exit_code == 1  # boom fails again
    assert results.query("SELECT experiment, status FROM runs ORDER BY run_id") == [
        ("boom", "failed"),
        ("echo", "done"),
    ]


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_the_environment_is_stored_on_the_sweep(sweep, results):
    assert sweep("--experiments", "noop", "-q").exit_code == 0
    (environment,) = results.query("SELECT environment_json FROM sweeps")[0]
    env = json.loads(environment)
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["torch"]["version"] == importlib.import_module("torch").__version__
    assert env["torch"]["devices"][0] == "cpu"
    assert env["cpu"]["count"] >= 1 and env["cpu"]["model"]
    assert env["packages"]["scratchlab"] == importlib.metadata.version("scratchlab")
    assert env["plugins"]["sweeptoy"]["status"] == "ok"
    assert env["execution"]["backend"] == "supervised"  # the default: worker processes
    assert env["execution"]["workers"] >= 1
    assert "git" in env  # None here: the test runs outside a checkout


def test_observer_hooks_see_the_sweep_and_a_broken_one_is_only_a_warning(
    sweep, results, tmp_path, monkeypatch
):
    log = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("SWEEPWATCH_LOG", str(log))
    result = sweep(
        "--experiments",
        "echo,boom",
        "--matmul",
        "toy-a,toy-b",
        "--inline",
        "-q",
        plugins=("sweeptoy", "sweepwatch", "sweepbroken"),
    )  # inline: hooks in run order
    assert result.exit_code == 1
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "sweep_started",
        *["run_finished"] * 4,
        "sweep_finished",
    ]
    assert events[0]["n_runs"] == 4 and events[0]["has_environment"]
    assert set(events[0]["run_keys"]) == set(results.statuses())
    assert [e["status"] for e in events[1:5]] == ["done", "done", "failed", "failed"]
    assert events[-1]["counts"] == {"done": 2, "failed": 2}
    warnings = [line for line in result.stderr.splitlines() if "observer bug" in line]
    assert warnings == [
        "warning: plugin 'sweepbroken': run_finished hook failed: ValueError: observer bug"
        " (further failures of this hook are not shown)"
    ]
    assert results.query("SELECT count(*) FROM runs WHERE status = 'done'") == [(2,)]


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_the_same_spec_twice_makes_two_sweeps_and_resuming_a_finished_one_runs_nothing(
    sweep, results
):
    for _ in range(2):
        assert sweep("--experiments", "echo", "--matmul", "toy-a", "-q").exit_code == 0
    assert results.query("SELECT sweep_id, count(*) FROM runs GROUP BY sweep_id") == [
        (1, 1),
        (2, 1),
    ]
    assert len(set(results.statuses(1)) | set(results.statuses(2))) == 1  # the same run key in both
    result = sweep("--resume", "2")
    assert result.exit_code == 0
    assert "nothing to run" in result.stderr
    assert results.count("runs") == 2


def test_a_database_error_is_one_line(sweep, db_file: Path):
    db_file.write_text("this is not a database")
    result = sweep("--experiments", "noop")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert db_file.read_text() == "this is not a database"


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_resume_of_an_unknown_sweep_is_one_line(sweep):
    assert sweep("--experiments", "noop", "-q").exit_code == 0
    result = sweep("--resume", "7")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no sweep 7 in {Path('results.db').resolve()}"


FLAKY_V1 = """
from scratchlab.plugins import Experiment, hookimpl

def flaky(ctx):
    ctx.metric("n", float(ctx.params["n"]))
    if ctx.params["n"] == 2:
        raise ValueError("n=2 is broken")

@hookimpl
def register_experiments(register):
    register(Experiment(name="flaky", run=flaky, params={"n": 1}))
"""

FLAKY_V2 = FLAKY_V1.replace(
    'raise ValueError("n=2 is broken")', 'ctx.metric("fixed", 1.0)  # the fix'
)


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_rerun_failed_makes_a_new_sweep_of_the_failed_runs_with_the_fixed_code(
    sweep, results, toy_path, tmp_path
):
    config = tmp_path / "grid.toml"
    config.write_text(
        "".join(f'[[include]]\nexperiment = "flaky"\nparams = {{ n = {n} }}\n' for n in (1, 2, 3))
    )
    (toy_path / "flakytoy.py").write_text(FLAKY_V1)
    first = sweep("--config", str(config), "--timeout", "30", "-q", plugins=("flakytoy",))
    assert first.exit_code == 1
    assert sorted(results.statuses(1).values()) == ["done", "done", "failed"]

    # the plugin is fixed: a new version of its code
    (toy_path / "flakytoy.py").write_text(FLAKY_V2)
    sys.modules.pop("flakytoy", None)
    importlib.invalidate_caches()
    again = sweep("--rerun-failed", "1", "-q", plugins=("flakytoy",))
    assert again.exit_code == 0, again.output
    assert results.query("SELECT sweep_id, name FROM sweeps ORDER BY sweep_id")[1][1].endswith(
        "-rerun"
    )
    rows = results.query("SELECT run_id, key, status FROM runs WHERE sweep_id = 2")
    assert [status for _, _, status in rows] == ["done"]
    ((run_id, key, _),) = rows
    assert key not in results.statuses(1)  # new code, new key ...
    assert results.query(
        "SELECT value_text FROM params WHERE run_id = ? AND name = 'n'", run_id
    ) == [("2",)]
    assert results.query("SELECT name FROM metrics WHERE run_id = ? ORDER BY name", run_id) == [
        ("fixed",),
        ("n",),
    ]
    # ... and it kept the stored timeout of the sweep it re-runs
    (spec,) = results.query("SELECT spec_json FROM sweeps WHERE sweep_id = 2")[0]
    assert json.loads(spec)["execution"] == {"timeout": 30.0}
    assert (
        sweep("--rerun-failed", "2", plugins=("flakytoy",))
        .stderr.strip()
        .endswith("nothing to run")
    )
    sys.modules.pop("flakytoy", None)


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_resume_refuses_runs_whose_code_changed(sweep, results, toy_path):
    (toy_path / "flakytoy.py").write_text(FLAKY_V1)
    assert (
        sweep("--experiments", "flaky", "-s", "flaky.n=2", "-q", plugins=("flakytoy",)).exit_code
        == 1
    )
    (toy_path / "flakytoy.py").write_text(FLAKY_V2)
    sys.modules.pop("flakytoy", None)
    importlib.invalidate_caches()
    result = sweep("--resume", "1", plugins=("flakytoy",))
    assert result.exit_code == 1
    assert "no longer match the plan" in result.stderr and "--rerun-failed 1" in result.stderr
    assert list(results.statuses().values()) == ["failed"]
    sys.modules.pop("flakytoy", None)


def test_identity_ignores_versions_only(dry_plan):
    plan = dry_plan("--matmul", "toy-a", "--experiments", "echo")
    assert len(plan["runs"]) == 1
    from scratchlab.core.records import PlannedRun

    run = PlannedRun(
        key="k",
        experiment="echo",
        components={"matmul": "toy-a"},
        params={"n": 4},
        component_versions={"matmul": "1"},
    )
    other = PlannedRun(**{**run.__dict__, "component_versions": {"matmul": "2"}})
    assert run_identity(run) == run_identity(other)
    assert run_identity(run) != run_identity(PlannedRun(**{**run.__dict__, "params": {"n": 5}}))


# --------------------------------------------------------------------------- --retry-noisy


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_retry_noisy_measures_noisy_runs_again_until_their_timings_are_ok(
    sweep, results, tmp_path: Path
):
    counter = tmp_path / "measured"
    result = sweep(
        "--experiments",
        "jittery",
        "--repeat",
        "2",
        "-s",
        f"jittery.counter={counter}",
        "-s",
        "jittery.noisy_times=2",
        "--retry-noisy",
        "3",
        "-q",
    )
    assert result.exit_code == 0, result.output
    # the two runs share the counter: the first pass measures 1 and 2 (noisy), the retry 3 and 4 (ok)
    assert len(counter.read_text()) == 4
    assert results.query("SELECT quality FROM timings") == [("ok",), ("ok",)]
    assert results.query("SELECT count(*) FROM runs") == [(2,)]
    assert results.query("SELECT count(*) FROM metrics") == [
        (2,)
    ]  # each retry replaced the run's results
    assert "2 noisy run(s) measured again (1/3)" in result.stderr
    assert "(2/3)" not in result.stderr  # nothing noisy was left after the first retry
    assert results.query("SELECT status FROM sweeps") == [("done",)]


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_retry_noisy_stops_after_n_rounds_and_says_what_stayed_noisy(
    sweep, results, tmp_path: Path
):
    counter = tmp_path / "measured"
    args = (
        "--experiments",
        "jittery",
        "-s",
        f"jittery.counter={counter}",
        "-s",
        "jittery.noisy_times=9",
        "-q",
    )
    once = sweep(*args)
    assert once.exit_code == 0 and len(counter.read_text()) == 1  # default: no retry

    result = sweep(*args, "--retry-noisy", "2", "--inline")
    assert result.exit_code == 0, result.output  # noisy is a warning, not a failure
    assert len(counter.read_text()) == 4  # the new sweep's run: measured, then twice again
    assert "sweep 2: 1 run(s) still have noisy timings after 2 retries" in result.stderr
    assert results.query(
        "SELECT quality FROM timings JOIN runs USING (run_id) WHERE sweep_id = 2"
    ) == [("noisy",)]


# --------------------------------------------------------------------------- --inline


def test_inline_runs_every_run_in_this_process(sweep, results):
    import os

    result = sweep(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0", "--repeat", "2", "--inline", "-q"
    )
    assert result.exit_code == 0, result.output
    # CliRunner runs the command in the test's own process: so did every run
    assert results.query("SELECT DISTINCT value FROM metrics WHERE name = 'pid'") == [
        (float(os.getpid()),)
    ]


@pytest.mark.parametrize("other", [["--workers", "2"], ["--scheduler", "local"]])
def test_inline_with_workers_or_a_scheduler_is_a_usage_error(sweep, db_file: Path, other):
    result = sweep("--experiments", "noop", "--inline", *other)
    assert result.exit_code == 2, result.output
    assert (
        "--inline runs in this process; it cannot be combined with --workers or --scheduler"
        in result.stderr
    )
    assert not db_file.exists()
