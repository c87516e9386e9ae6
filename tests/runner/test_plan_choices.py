"""What a sweep chooses: the components per category, the experiments that run, and the
run count checked against the limit before a run is built; every unknown name refused
with the valid ones."""

from __future__ import annotations

import pytest
from fixtures.toy_registries import make_registry, toy_registry, with_defaults

from scratchlab.plugins.types import DEFAULTS
from scratchlab.runner.plan import plan
from scratchlab.runner.plan_choices import component_choices, plan_size
from scratchlab.runner.spec import Include, PlanError, SweepSpec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            SweepSpec(plugins=("matmul", "optimizer")),
            "unknown category 'optimizer'; valid: matmul, init, activation",
        ),
        # a config file's mistyped key reads as a category, refused when planning
        (
            SweepSpec(components={"plugin": ("matmul",)}),
            "unknown category 'plugin'; valid: matmul, init",
        ),
        (
            SweepSpec(components={"matmul": ("torch", "numba")}),
            "unknown matmul 'numba'; valid: torch, matmul-0",
        ),
        (SweepSpec(experiments=("train", "fit")), "unknown experiment 'fit'; valid: train, relu"),
        (SweepSpec(experiments=("train",), dtype="float16"), "dtype 'float16' is not supported"),
        (SweepSpec(), "nothing to sweep"),
        (
            SweepSpec(plugins=("loss",)),
            "no experiment uses loss by default (a plugin's experiments run only when named); name experiments with --experiments",
        ),
        (SweepSpec(includes=(Include("train", {"loss": "mse"}),)), "it does not use loss"),
        (
            SweepSpec(includes=(Include("train", {}, {"momentum": 1}),)),
            "not a param of this combination",
        ),
    ],
)
def test_unknown_names_are_rejected_before_anything_runs(spec, message):
    with pytest.raises(PlanError) as info:
        plan(spec, toy_registry())
    assert message in str(info.value)


def test_the_run_limit_is_counted_before_runs_are_built():
    registry = toy_registry()
    spec = SweepSpec(plugins=("matmul",), experiments=("train",), repeat=3, max_runs=5)
    with pytest.raises(PlanError, match=r"the plan has 6 runs \(train 6\).*--max-runs 6"):
        plan(spec, registry)
    assert len(plan(SweepSpec(**{**spec.__dict__, "max_runs": 6}), registry)) == 6


def test_a_category_from_plugins_sweeps_every_component_unless_narrowed():
    registry = make_registry(with_defaults(2), [("mm", ("matmul", "init"), {})])
    choices, swept = component_choices(
        SweepSpec(plugins=("matmul", "init"), components={"init": ("init-1",)}), registry
    )
    assert swept == ("matmul", "init")
    assert choices == {"init": ("init-1",), "matmul": (DEFAULTS["matmul"], "matmul-0", "matmul-1")}


def test_the_plan_size_is_the_product_per_experiment_times_devices_threads_and_repeats():
    registry = make_registry(
        with_defaults(2), [("mm", ("matmul",), {}), ("both", ("matmul", "init"), {})]
    )
    spec = SweepSpec(
        devices=("cpu", "cuda"),
        threads=(1, None),
        repeat=2,
        includes=(Include("mm", {"matmul": "torch"}),),
    )
    choices = {"matmul": ("a", "b", "c")}
    # mm: 3 matmuls, plus the include; both: 3 matmuls x the default init; each x 2 x 2 x 2
    assert plan_size(spec, registry, choices, ("mm", "both")) == {"mm": 32, "both": 24}
