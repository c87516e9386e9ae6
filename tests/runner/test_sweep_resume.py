"""A real ``runner sweep`` process killed mid-sweep (SIGKILL, SIGINT) and resumed."""

from __future__ import annotations

import json
import signal
import time

import pytest

N_RUNS = 8


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``condition()`` every 50 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def done_runs(results) -> int:
    """Runs that are done in the database so far (0 before it exists)."""
    if not results.path.exists():
        return 0
    try:
        return results.query("SELECT count(*) FROM runs WHERE status = 'done'")[0][0]
    except Exception:  # the schema is still being created
        return 0


def assert_no_duplicate_rows(results) -> None:
    """Every table holds each natural key once."""
    checks = {
        "sweeps": "SELECT name FROM sweeps GROUP BY name HAVING count(*) > 1",
        "runs": "SELECT sweep_id, key FROM runs GROUP BY sweep_id, key HAVING count(*) > 1",
        "params": "SELECT run_id, name FROM params GROUP BY run_id, name HAVING count(*) > 1",
        "metrics": "SELECT run_id, name, step FROM metrics GROUP BY run_id, name, step HAVING count(*) > 1",
        "activation_stats": "SELECT run_id, model, layer, step FROM activation_stats"
                            " GROUP BY run_id, model, layer, step HAVING count(*) > 1",
        "timings": "SELECT run_id, label, shape FROM timings GROUP BY run_id, label, shape HAVING count(*) > 1",
    }
    for table, sql in checks.items():
        assert results.query(sql) == [], f"duplicate rows in {table}"


def test_a_sweep_killed_with_sigkill_resumes_and_runs_every_run_exactly_once(runner_process, results):
    args = ("--experiments", "sleepy", "-s", "sleepy.seconds=0.4", "--repeat", str(N_RUNS), "-q")
    process = runner_process(*args)
    wait_for(lambda: done_runs(results) >= 2, what="two finished runs")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL

    before = dict(results.query("SELECT run_id, status FROM runs"))
    assert len(before) == N_RUNS  # every run was stored up front
    assert 2 <= list(before.values()).count("done") < N_RUNS
    assert set(before.values()) <= {"done", "running", "pending"}
    pids_before = dict(results.query(
        "SELECT run_id, value FROM metrics WHERE name = 'pid'"
    ))
    assert results.query("SELECT status FROM sweeps") == [("running",)]

    resumed = runner_process("--resume", "1", "-q")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "Traceback" not in err

    after = dict(results.query("SELECT run_id, status FROM runs"))
    assert after.keys() == before.keys()
    assert set(after.values()) == {"done"}
    assert results.query("SELECT count(*), count(DISTINCT key) FROM runs") == [(N_RUNS, N_RUNS)]
    assert results.query("SELECT status FROM sweeps") == [("done",)]
    # the runs done before the kill were not run again; the others ran once, in the new process
    pids_after = dict(results.query("SELECT run_id, value FROM metrics WHERE name = 'pid'"))
    assert {r: pids_after[r] for r in pids_before} == pids_before
    assert len(set(pids_after.values())) == 2
    # each run wrote its three metrics once (slept, pid, threads)
    assert results.query("SELECT run_id, count(*) FROM metrics GROUP BY run_id HAVING count(*) != 3") == []
    assert_no_duplicate_rows(results)


def test_ctrl_c_marks_the_running_run_interrupted_and_exits_130_without_a_traceback(runner_process, results):
    process = runner_process("--experiments", "sleepy", "-s", "sleepy.seconds=0.5", "--repeat", "6", "-q")
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    time.sleep(0.2)  # into the next run
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert "runner sweep --resume 1" in out
    statuses = [s for (s,) in results.query("SELECT status FROM runs ORDER BY run_id")]
    assert "interrupted" in statuses and "running" not in statuses
    assert results.query("SELECT DISTINCT reason FROM runs WHERE status = 'interrupted'") == [("interrupted by Ctrl-C",)]
    assert results.query("SELECT status FROM sweeps") == [("interrupted",)]

    resumed = runner_process("--resume", "1", "-q")
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert set(results.statuses().values()) == {"done"}
    assert_no_duplicate_rows(results)
    # the sweep is done again, and remembers where it was resumed
    assert results.query("SELECT status FROM sweeps") == [("done",)]
    (environment,) = [json.loads(e) for (e,) in results.query("SELECT environment_json FROM sweeps")]
    assert len(environment["resumed"]) == 1
    assert environment["resumed"][0]["python"] == environment["python"]
