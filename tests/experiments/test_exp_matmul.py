"""The ``matmul`` experiment reproduces the lessons' 01_matmul ranking (seed 0, one thread)."""

from __future__ import annotations

import pytest

from scratchlab.plugins.experiments.matmul import parse_shapes

STRATEGIES = ("python", "elementwise", "broadcast", "einsum", "torch")
LESSONS_SHAPE = "5x784x10"


def run_strategy(run, done, strategy, shapes=LESSONS_SHAPE, seed=0):
    return done(
        run("matmul", {"matmul": strategy}, {"shapes": shapes, "min_run_time": 0.05}, seed=seed)
    )


def test_strategies_rank_as_in_the_lessons_and_are_all_correct(run, done, metrics_of):
    """python > elementwise > broadcast > einsum >= torch by median time (seed 0)."""
    medians, metrics = {}, {}
    for strategy in STRATEGIES:
        result = run_strategy(run, done, strategy)
        (timing,) = result.timings
        assert timing.label == LESSONS_SHAPE and timing.shape == LESSONS_SHAPE
        assert timing.flops == 2 * 5 * 784 * 10
        medians[strategy] = timing.median
        metrics[strategy] = metrics_of(result)
    for strategy in STRATEGIES:
        m = metrics[strategy]
        assert m[f"{LESSONS_SHAPE}.correct"] == 1.0, (strategy, m)
        assert m[f"{LESSONS_SHAPE}.max_rel_err"] < 1e-5
        assert m[f"{LESSONS_SHAPE}.gflops"] == pytest.approx(2 * 39200 / medians[strategy] / 1e9)
    assert medians["python"] > medians["elementwise"] > medians["broadcast"] > medians["einsum"], (
        medians
    )
    # einsum >= torch: both are one library call, so allow 20% timing noise
    assert medians["torch"] <= medians["einsum"] * 1.2, medians
    # and the gaps are the lessons' orders of magnitude, not noise
    assert medians["python"] > 100 * medians["elementwise"]
    assert medians["broadcast"] > 2 * medians["torch"]


def test_every_shape_is_checked_and_timed(run, done, metrics_of):
    result = run_strategy(run, done, "broadcast", shapes="5x784x10, 64x784x50,5x784x10")
    assert [t.shape for t in result.timings] == ["5x784x10", "64x784x50"]  # duplicate dropped
    metrics = metrics_of(result)
    assert metrics["64x784x50.correct"] == 1.0
    assert result.reason is None


def test_shapes_over_the_limit_are_skipped_with_the_reason(run, done, metrics_of):
    result = run_strategy(run, done, "elementwise", shapes="5x784x10,512x512x2048")
    assert [t.shape for t in result.timings] == ["5x784x10"]
    assert metrics_of(result)["shapes_skipped"] == 1.0
    assert (
        result.reason == "skipped: elementwise: 512x512x2048 is 5.4e+08 multiply-adds, limit 3e+08"
    )

    everything_too_big = run("matmul", {"matmul": "python"}, {"shapes": "64x784x50"})
    assert everything_too_big.status == "skipped"
    assert everything_too_big.reason == "python: 64x784x50 is 2.5e+06 multiply-adds, limit 1e+06"
    assert not everything_too_big.timings


def test_a_wrong_strategy_is_caught(plugin_path, done, metrics_of):
    from scratchlab.db.records import PlannedRun
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.context import run_experiment

    plugin_path(
        modules={
            "off_by_one": """
                from scratchlab.plugins import Matmul, hookimpl

                @hookimpl
                def register_matmuls(register):
                    # the classic loop bug: the last term of every sum is missed
                    register(Matmul(name="off-by-one", fn=lambda a, b: a[:, :-1] @ b[:-1]))
            """
        }
    )
    plugins = load_plugins(modules=["off_by_one"], strict=True, disabled=())
    planned = PlannedRun(
        key="k",
        experiment="matmul",
        components={"matmul": "off-by-one"},
        params={"shapes": "5x784x10", "min_run_time": 0.01, "rtol": 1e-3},
    )
    metrics = metrics_of(done(run_experiment(plugins, planned)))
    assert metrics["5x784x10.correct"] == 0.0
    assert metrics["5x784x10.max_rel_err"] > 1e-3


@pytest.mark.parametrize("text", ["5x784", "0x1x2", "axbxc", " , "])
def test_bad_shapes_are_named(text):
    with pytest.raises(ValueError, match=r"MxKxN|names no shape"):
        parse_shapes(text)


def test_bad_shapes_fail_the_run_with_the_message(run):
    result = run("matmul", {"matmul": "torch"}, {"shapes": "5by784by10"})
    assert result.status == "failed"
    assert "bad shape '5by784by10'" in result.reason
