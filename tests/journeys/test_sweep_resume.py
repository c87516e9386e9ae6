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


def test_a_sweep_killed_with_sigkill_resumes_and_runs_every_run_exactly_once(
    runner_process, results
):
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
    pids_before = dict(results.query("SELECT run_id, value FROM metrics WHERE name = 'pid'"))
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
    # (in other processes than before: the killed sweep's workers are gone)
    rerun = {pids_after[r] for r in pids_after if r not in pids_before}
    assert rerun and rerun.isdisjoint(pids_before.values())
    # each run wrote its three metrics once (slept, pid, threads)
    assert (
        results.query("SELECT run_id, count(*) FROM metrics GROUP BY run_id HAVING count(*) != 3")
        == []
    )
    assert_no_duplicate_rows(results)


def test_ctrl_c_marks_the_running_run_interrupted_and_exits_130_without_a_traceback(
    runner_process, results
):
    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0.5", "--repeat", "6", "-q"
    )
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    time.sleep(0.2)  # into the next run
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert "runner sweep --resume 1" in out
    statuses = [s for (s,) in results.query("SELECT status FROM runs ORDER BY run_id")]
    assert "interrupted" in statuses and "running" not in statuses
    assert results.query("SELECT DISTINCT reason FROM runs WHERE status = 'interrupted'") == [
        ("interrupted by Ctrl-C",)
    ]
    assert results.query("SELECT status FROM sweeps") == [("interrupted",)]

    resumed = runner_process("--resume", "1", "-q")
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert set(results.statuses().values()) == {"done"}
    assert_no_duplicate_rows(results)
    # the sweep is done again, and remembers where it was resumed
    assert results.query("SELECT status FROM sweeps") == [("done",)]
    (environment,) = [
        json.loads(e) for (e,) in results.query("SELECT environment_json FROM sweeps")
    ]
    assert len(environment["resumed"]) == 1
    assert environment["resumed"][0]["python"] == environment["python"]


# --------------------------------------------------------------------------- ownership


def test_a_live_sweep_records_its_owner_and_refuses_a_resume(runner_process, sweep, results):
    # runs that outlast the in-process resume below by far, on a busy machine too
    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=60", "--repeat", "2", "-q"
    )

    def started() -> bool:
        try:
            return bool(results.query("SELECT count(*) FROM runs WHERE status = 'running'")[0][0])
        except Exception:  # the database is still being created
            return False

    wait_for(started, what="a running run")
    host, pid, beat = results.query("SELECT owner_host, owner_pid, heartbeat_at FROM sweeps")[0]
    assert pid == process.pid and host and beat is not None

    refused = sweep("--resume", "1")
    assert refused.exit_code == 1, refused.output
    assert f"sweep 1 is still running in process {process.pid} on {host}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.output
    assert results.query("SELECT owner_pid, status FROM sweeps") == [
        (process.pid, "running")
    ]  # untouched

    # the live sweep was not disturbed: stopped with Ctrl-C, it is resumable at once
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    dry = sweep("--resume", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["count"] == 2


def test_a_killed_sweeps_running_runs_are_interrupted_and_run_again_on_resume(
    runner_process, results
):
    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0.5", "--repeat", "4", "-q"
    )
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    time.sleep(0.2)  # into the next run
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert "running" in results.statuses().values()
    killed = [r for (r,) in results.query("SELECT run_id FROM runs WHERE status = 'running'")]

    resumed = runner_process("--resume", "1", "-q")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "left running are run again" in err
    assert set(results.statuses().values()) == {"done"}
    assert {r for (r,) in results.query("SELECT run_id FROM runs WHERE status = 'done'")} >= set(
        killed
    )
    assert results.query("SELECT owner_pid FROM sweeps") == [(resumed.pid,)]
    assert_no_duplicate_rows(results)


def test_a_sweep_owned_elsewhere_is_resumable_only_once_its_heartbeat_is_stale(
    runner_process, sweep, results
):
    from scratchlab.db.ownership import STALE_AFTER_S

    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0.3", "--repeat", "3", "-q"
    )
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    process.send_signal(signal.SIGKILL)
    process.communicate()

    def owned_by_another_machine(beat_age_s: float) -> None:
        # a pid on another host cannot be checked: only the heartbeat tells
        import sqlite3

        with sqlite3.connect(results.path) as db:
            db.execute(
                "UPDATE sweeps SET owner_host = 'elsewhere.example', owner_pid = 4242,"
                " heartbeat_at = datetime('now', ?)",
                (f"-{beat_age_s} seconds",),
            )

    owned_by_another_machine(1)
    refused = sweep("--resume", "1", "-q")
    assert refused.exit_code == 1, refused.output
    assert "still running in process 4242 on elsewhere.example" in refused.stderr

    owned_by_another_machine(STALE_AFTER_S + 5)
    resumed = sweep("--resume", "1", "-q")
    assert resumed.exit_code == 0, resumed.output
    assert set(results.statuses().values()) == {"done"}
    assert results.query(
        "SELECT count(*) FROM runs WHERE reason LIKE '%process 4242 on elsewhere.example%'"
    ) == [(0,)]  # the requeued run ran again: its interrupted reason was replaced by its result


# --------------------------------------------------------------------------- a paused driver


def age_heartbeat(results, seconds: float, **columns: object) -> None:
    """Set the sweep's heartbeat ``seconds`` into the past (and any other ``columns``), as a
    driver that has not beaten for that long leaves it."""
    import sqlite3

    assignments = "".join(f", {name} = ?" for name in columns)
    with sqlite3.connect(results.path, timeout=30) as db:
        db.execute(
            f"UPDATE sweeps SET heartbeat_at = datetime('now', ?){assignments}",
            (f"-{seconds} seconds", *columns.values()),
        )


@pytest.mark.slow
def test_a_paused_driver_keeps_its_sweep_until_it_ends(runner_process, sweep, results, monkeypatch):
    from scratchlab.db import ownership

    # the resume below runs in this process: its grace period is 1 s, so the stopped
    # driver's heartbeat goes stale in seconds, as it does in 30 s for real
    monkeypatch.setattr(ownership, "STALE_AFTER_S", 1.0)
    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0.3", "--repeat", "4", "-q"
    )
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    process.send_signal(signal.SIGSTOP)
    try:
        # no beat comes from a stopped driver: its last one is stale (older than the 1 s above)
        time.sleep(ownership.STALE_AFTER_S + 1.0)
        before = results.query("SELECT run_id, status, started_at FROM runs ORDER BY run_id")
        refused = sweep("--resume", "1", "-q")
        assert refused.exit_code == 1, refused.output
        (line,) = refused.stderr.strip().splitlines()
        assert f"sweep 1 is still owned by process {process.pid}" in line
        assert "it is stopped" in line and f"kill -CONT {process.pid}" in line, line
        assert "Traceback" not in refused.output
        # nothing was claimed, requeued or started by the refused resume
        assert results.query("SELECT run_id, status, started_at FROM runs ORDER BY run_id") == (
            before
        )
        assert results.query("SELECT owner_pid, status FROM sweeps") == [(process.pid, "running")]
    finally:
        process.send_signal(signal.SIGCONT)
    # continued, the driver finishes its own sweep: each run ran once, by one driver
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert set(results.statuses().values()) == {"done"}
    assert_no_duplicate_rows(results)
    assert "nothing to run" in sweep("--resume", "1", "-q").stderr


@pytest.mark.slow
def test_a_dead_drivers_pid_taken_by_another_process_does_not_hold_the_sweep(
    runner_process, sweep, results
):
    import subprocess

    process = runner_process(
        "--experiments", "sleepy", "-s", "sleepy.seconds=0.3", "--repeat", "3", "-q"
    )
    wait_for(lambda: done_runs(results) >= 1, what="a finished run")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # the pid now names a process that started after the driver's last heartbeat
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        age_heartbeat(results, 5, owner_pid=stranger.pid)
        resumed = sweep("--resume", "1", "-q")
        assert resumed.exit_code == 0, resumed.output
    finally:
        stranger.kill()
        stranger.wait()
    assert set(results.statuses().values()) == {"done"}
