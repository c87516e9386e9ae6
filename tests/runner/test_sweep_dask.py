"""``--workers 2`` on a real Dask LocalCluster gives the results an inline sweep gives."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("distributed")

SWEEP = ("--experiments", "echo,boom,skippy,hang", "--matmul", "toy-a,toy-b,toy-c", "--repeat", "2",
         "-s", "echo.n=6", "--timeout", "1", "-q")


def outcomes(results, sweep_id: int) -> dict[str, tuple]:
    """key -> (experiment, status, metrics, stats) of one sweep, as stored."""
    runs = results.query("SELECT run_id, key, experiment, status FROM runs WHERE sweep_id = ?", sweep_id)
    return {
        key: (
            experiment,
            status,
            results.query("SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name", run_id),
            results.query("SELECT model, layer, mean, std, min, max FROM activation_stats WHERE run_id = ?", run_id),
        )
        for run_id, key, experiment, status in runs
    }


@pytest.mark.slow
def test_two_workers_give_the_same_results_as_inline_and_stop_a_hanging_run(runner_process, results):
    inline = runner_process(*SWEEP)
    _, err = inline.communicate(timeout=120)
    assert inline.returncode == 1, err  # boom fails, hang times out

    on_dask = runner_process(*SWEEP, "--workers", "2")
    _, err = on_dask.communicate(timeout=180)
    assert on_dask.returncode == 1, err
    assert "Traceback" not in err

    one, two = outcomes(results, 1), outcomes(results, 2)
    assert one.keys() == two.keys() and len(one) == 3 * 2 + 3 * 2 + 2 + 2
    hang_keys = {k for k, v in one.items() if v[0] == "hang"}
    assert {k: v for k, v in one.items() if k not in hang_keys} == {
        k: v for k, v in two.items() if k not in hang_keys
    }
    statuses = {v[0]: v[1] for v in one.values()}
    assert statuses == {"echo": "done", "boom": "failed", "skippy": "skipped", "hang": "timeout"}
    # the hanging runs never check their budget: on Dask the driver stopped them and restarted the worker
    reasons = [r for (r,) in results.query("SELECT reason FROM runs WHERE sweep_id = 2 AND experiment = 'hang'")]
    assert len(reasons) == 2 and all("worker was restarted" in r for r in reasons)
    assert results.query("SELECT status FROM sweeps ORDER BY sweep_id") == [("failed",), ("failed",)]

    (environment,) = results.query("SELECT environment_json FROM sweeps WHERE sweep_id = 2")[0]
    execution = json.loads(environment)["execution"]
    assert execution["backend"] == "dask" and execution["local"]
    assert sorted(execution["workers"].values()) == [1, 1]
    assert execution["torch_threads_per_worker"] >= 1
