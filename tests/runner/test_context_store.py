"""What an experiment records through the run context arrives in the results
database intact: run_experiment -> store.write_result -> scratchlab.db.queries,
on a real SQLite file (seed 0)."""

from __future__ import annotations

import math

import pytest

from scratchlab.db import open_store, queries

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as opened:
        yield opened


def write(store, planned, result):
    sweep_id = store.create_sweep("test", ["runner", "sweep"], {}, {})
    run_id = store.add_runs(sweep_id, [planned])[planned.key]
    store.write_result(run_id, result)
    return run_id


def test_timings_stats_and_metrics_round_trip(store, plan, registry, done):
    from scratchlab.runner.run_one import run_experiment

    runs = {
        "matmul": plan(
            "matmul", {"matmul": "broadcast"}, {"shapes": "5x784x10,16x32x8", "min_run_time": 0.02}
        ),
        "deep": plan(
            "init-stats", {"init": "randn", "activation": "identity"}, {"models": "deep,mlp"}
        ),
        "train": plan(
            "train",
            {
                "init": "kaiming-normal",
                "activation": "relu",
                "loss": "cross-entropy",
                "matmul": "torch",
                "dataset": "mnist-5k",
                "optimizer": "sgd",
                "schedule": "constant",
                "norm": "none",
            },
            {"stats_every": 63},
        ),
    }
    results, ids = {}, {}
    for name, planned in runs.items():
        planned.key = name
        results[name] = done(run_experiment(registry, planned))
        ids[name] = write(store, planned, results[name])

    # timings: every shape, with every replicate, as measured
    timings = queries.timings(store, run_ids=ids["matmul"])
    assert list(timings["shape"]) == ["5x784x10", "16x32x8"]
    for record, (_, row) in zip(results["matmul"].timings, timings.iterrows()):
        assert (
            row["median"] == record.median
            and row["iqr"] == record.iqr
            and row["flops"] == record.flops
        )
        replicates = queries.timing_replicates(store, int(row["timing_id"]))
        assert list(replicates["seconds"]) == record.replicates
    assert timings["gflops"].iloc[0] == pytest.approx(
        2 * 39200 / results["matmul"].timings[0].median / 1e9
    )

    # stats: NaN and infinities of the exploded stack survive the database
    stats = queries.activation_stats(store, run_ids=ids["deep"], models="deep")
    assert len(stats) == 101
    exploded = stats[stats["layer"] == 100].iloc[0]
    assert math.isnan(exploded["mean"]) and exploded["frac_nonfinite"] > 0
    first = next(m.value for m in results["deep"].metrics if m.name == "first_nonfinite_layer")
    assert stats[stats["frac_nonfinite"] > 0]["layer"].min() == first
    summary = queries.run_summary(store, ids["deep"])
    assert summary["first_nonfinite"]["deep"] == f"layer{int(first)}"

    # metrics: the training curve in step order, stats taken once (step 0)
    history = queries.metrics(store, run_ids=ids["train"], names="train_loss")
    expected = [(m.step, m.value) for m in results["train"].metrics if m.name == "train_loss"]
    assert list(zip(history["step"], history["value"])) == expected
    final = queries.final_metrics(store, run_ids=ids["train"])
    accuracy = final[final["name"] == "valid_accuracy"]["value"].iloc[0]
    assert accuracy == next(m.value for m in results["train"].metrics if m.name == "valid_accuracy")
    train_stats = queries.activation_stats(store, run_ids=ids["train"])
    assert set(train_stats["step"]) == {0} and list(train_stats["name"]) == ["lin1", "act1", "lin2"]


def test_a_skipped_and_a_failed_run_are_stored_with_their_reasons(store, plan, registry):
    from scratchlab.runner.run_one import run_experiment

    skipped = plan("matmul", {"matmul": "python"}, {"shapes": "64x784x50"})
    skipped.key = "skipped"
    failed = plan("matmul", {"matmul": "torch"}, {"shapes": "nonsense"})
    failed.key = "failed"
    for planned in (skipped, failed):
        write(store, planned, run_experiment(registry, planned))
    runs = queries.list_runs(store)
    by_key = dict(zip(runs["key"], zip(runs["status"], runs["reason"])))
    assert by_key["skipped"] == (
        "skipped",
        "python: 64x784x50 is 2.5e+06 multiply-adds, limit 1e+06",
    )
    assert by_key["failed"][0] == "failed" and "bad shape 'nonsense'" in by_key["failed"][1]
