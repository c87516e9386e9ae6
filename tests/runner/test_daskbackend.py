"""``--scheduler local`` (a real Dask LocalCluster) gives the results the default
supervised workers give; ``--scheduler ADDRESS`` uses an existing cluster."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime

import pytest

from scratchlab.runner.workerstart import worker_context

pytest.importorskip("distributed")

SWEEP = (
    "--experiments",
    "echo,boom,skippy,hang,sleepy",
    "--matmul",
    "toy-a,toy-b,toy-c",
    "--repeat",
    "2",
    "-s",
    "echo.n=6",
    "-s",
    "sleepy.seconds=0",
    "--timeout",
    "1",
    "-q",
)


def outcomes(results, sweep_id: int) -> dict[str, tuple]:
    """key -> (experiment, status, metrics, stats) of one sweep, as stored."""
    runs = results.query(
        "SELECT run_id, key, experiment, status FROM runs WHERE sweep_id = ?", sweep_id
    )
    return {
        key: (
            experiment,
            status,
            results.query(
                "SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name", run_id
            ),
            results.query(
                "SELECT model, layer, mean, std, min, max FROM activation_stats WHERE run_id = ?",
                run_id,
            ),
        )
        for run_id, key, experiment, status in runs
    }


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_same_results_as_the_default_and_stops_a_hanging_run(
    runner_process, results
):
    default = runner_process(*SWEEP)
    _, err = default.communicate(timeout=180)
    assert default.returncode == 1, err  # boom fails, hang times out

    on_dask = runner_process(*SWEEP, "--scheduler", "local", "--workers", "2")
    _, err = on_dask.communicate(timeout=180)
    assert on_dask.returncode == 1, err
    assert "Traceback" not in err

    one, two = outcomes(results, 1), outcomes(results, 2)
    assert one.keys() == two.keys() and len(one) == 3 * 2 + 3 * 2 + 2 + 2 + 2
    # hang and sleepy record where they ran (what hang recorded dies with its worker)
    same = {k for k, v in one.items() if v[0] not in ("hang", "sleepy")}
    assert {k: one[k] for k in same} == {k: two[k] for k in same}
    statuses = {v[0]: v[1] for v in one.values()}
    assert statuses == {
        "echo": "done",
        "boom": "failed",
        "skippy": "skipped",
        "hang": "timeout",
        "sleepy": "done",
    }
    # torch threads are split between the workers: usable cores // 2 each
    threads = {
        v
        for (v,) in results.query(
            "SELECT value FROM metrics JOIN runs USING (run_id) WHERE sweep_id = 2 AND name = 'threads'"
        )
    }
    assert threads == {float(max(1, len(os.sched_getaffinity(0)) // 2))}
    # the hanging runs never check their budget: on Dask the driver stopped them and restarted the worker
    reasons = [
        r
        for (r,) in results.query(
            "SELECT reason FROM runs WHERE sweep_id = 2 AND experiment = 'hang'"
        )
    ]
    assert len(reasons) == 2 and all("worker was restarted" in r for r in reasons)
    # a stuck local worker is killed, not asked to close first (which it waits out: a fixed 4 s),
    # so the second hanging run's timeout is not held up behind the first one's restart
    finished = [
        datetime.fromisoformat(str(f))
        for (f,) in results.query(
            "SELECT finished_at FROM runs WHERE sweep_id = 2 AND experiment = 'hang'"
        )
    ]
    assert abs((finished[0] - finished[1]).total_seconds()) < 3.5, finished
    assert results.query("SELECT status FROM sweeps ORDER BY sweep_id") == [
        ("failed",),
        ("failed",),
    ]

    (environment,) = results.query("SELECT environment_json FROM sweeps WHERE sweep_id = 2")[0]
    execution = json.loads(environment)["execution"]
    assert execution["backend"] == "dask" and execution["local"]
    assert sorted(execution["workers"].values()) == [1, 1]
    assert execution["torch_threads_per_worker"] >= 1


#: an existing cluster, started the way someone would start one: in its own process, until stdin closes
CLUSTER = """
import sys
from distributed import LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()
"""


@pytest.mark.slow
def test_a_sweep_runs_on_an_existing_cluster_given_by_its_scheduler_address(
    runner_process, results, toy_path
):
    from distributed import Client

    # the workers find the toy plugin through PYTHONPATH, as workers elsewhere find an installed plugin
    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        process = runner_process(
            "--experiments", "echo,sleepy", "--matmul", "toy-a,toy-b", "--scheduler", address, "-q"
        )
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        with Client(address, timeout=10) as client:
            assert len(client.nthreads()) == 2  # the sweep left the cluster running
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=60)
    assert sorted(results.statuses().values()) == ["done"] * 3
    pids = {int(v) for (v,) in results.query("SELECT value FROM metrics WHERE name = 'pid'")}
    assert pids.isdisjoint(
        {os.getpid(), process.pid, cluster.pid}
    )  # sleepy ran in a worker process
    (environment,) = results.query("SELECT environment_json FROM sweeps")[0]
    execution = json.loads(environment)["execution"]
    assert execution["backend"] == "dask" and not execution["local"]
    assert execution["scheduler"] == address
    assert (
        execution["torch_threads_per_worker"] is None
    )  # an existing cluster keeps its own settings


def test_an_unreachable_scheduler_is_a_one_line_error(sweep):
    result = sweep("--experiments", "noop", "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot use the Dask scheduler at tcp://127.0.0.1:9:")
    assert len(result.stderr.strip().splitlines()) == 1


#: a plugin whose import takes seconds, as torch's does on a cold worker
SLOW_IMPORT = """
import time

time.sleep(4)
"""


@pytest.mark.slow
def test_the_dask_timeout_clock_starts_when_the_worker_starts_the_run(
    runner_process, results, toy_path
):
    # each cold worker loads the plugins inside its first task, 4 s here: more than --timeout 1
    # plus its 2 s grace. Counted from the hand-out, those runs would be stored as timeout.
    (toy_path / "slowimport.py").write_text(SLOW_IMPORT)
    process = runner_process(
        "--experiments",
        "sleepy",
        "--repeat",
        "2",
        "-s",
        "sleepy.seconds=0",
        "--timeout",
        "1",
        "--scheduler",
        "local",
        "--workers",
        "2",
        "-q",
        plugins=("sweeptoy", "slowimport"),
    )
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    assert sorted(results.statuses().values()) == ["done", "done"]


#: an experiment that logs on its Dask worker as distributed itself does when a worker's
#: heartbeat meets a scheduler that has just closed (at a cluster's shutdown, under load)
NOISY_WORKER = """
import logging

from scratchlab.plugins import Experiment, hookimpl


def run(ctx):
    try:
        raise OSError("Stream is closed")
    except OSError:
        logging.getLogger("distributed.worker").exception(
            "Failed to communicate with scheduler during heartbeat."
        )
    ctx.metric("one", 1.0)


@hookimpl
def register_experiments(register):
    register(Experiment(name="noisy", run=run, description="logs as a failed heartbeat does"))
"""


@pytest.mark.slow
def test_distributeds_own_errors_stay_off_the_sweeps_output_unless_asked_with_v(
    runner_process, results, toy_path
):
    """The sweep reports each run's outcome itself; a worker's ERROR record with its traceback
    (seen once in the suite: a heartbeat during the cluster's shutdown) is shown with -v only."""
    (toy_path / "noisyworker.py").write_text(NOISY_WORKER)
    outputs = []
    for verbose in ((), ("-v",)):
        # -v is an option of runner itself: it goes before the command, as a user types it
        process = runner_process(
            "--experiments",
            "noisy",
            "--scheduler",
            "local",
            "--workers",
            "1",
            "-q",
            plugins=("noisyworker",),
            before=verbose,
        )
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        outputs.append(err)
    quiet, verbose_err = outputs
    assert "Traceback" not in quiet and "heartbeat" not in quiet, quiet
    assert "Failed to communicate with scheduler during heartbeat." in verbose_err
    assert set(results.statuses().values()) == {"done"}  # both sweeps ran the run


#: what a nanny sets in its driver's environment for the workers it starts
FOR_WORKERS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MALLOC_TRIM_THRESHOLD_",
    "PYTHONHASHSEED",
)


@pytest.mark.slow
def test_a_local_cluster_leaves_the_drivers_environment_as_it_found_it(sweep, monkeypatch):
    """A notebook that ran a local-cluster sweep keeps its own environment: torch imported later
    gets its OpenMP threads, and the next sweep's workers are forks again, not spawned."""
    for name in FOR_WORKERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's own value is used and kept
    import distributed  # noqa: F401  (as a notebook that uses Dask has: its logging set up)

    logs = logging.getLogger("distributed")
    level = logs.level
    before = dict(os.environ)
    args = ("--experiments", "sleepy", "-s", "sleepy.seconds=0", "--repeat", "2", "-q")
    result = sweep(*args, "--scheduler", "local", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert logs.level == level  # quiet during the sweep only
    after = dict(os.environ)
    # distributed marks the process that imported it, for its process titles
    assert {k: v for k, v in after.items() if k != "__DASK_PARENT_PID"} == {
        k: v for k, v in before.items() if k != "__DASK_PARENT_PID"
    }
    assert sweep(*args, "--workers", "2").exit_code == 0
    assert worker_context(("cpu",)).get_start_method() == "forkserver"


#: a driver that cannot import distributed (as where the dask extra is not installed)
WITHOUT_DISTRIBUTED = """
import sys
sys.modules["distributed"] = None
from scratchlab.runner.cli import main
main({argv!r})
"""


def test_without_distributed_a_local_cluster_is_a_one_line_error(toy_path, db_file):
    argv = ["--db", f"sqlite:///{db_file}", "--plugin", "sweeptoy", "sweep"]
    argv += ["--experiments", "noop", "--scheduler", "local", "-q"]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DISTRIBUTED.format(argv=argv)],
        capture_output=True,
        text=True,
        cwd=toy_path.parent,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: --workers and --scheduler need dask.distributed: pip install 'scratchlab[dask]'"
    )
