"""Sweep planning: run counts, deduplication, keys, settings and limits."""

from __future__ import annotations

import math

import pytest
from fixtures.toy_registries import make_registry, toy_registry, with_defaults
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchlab.plugins.types import COMPONENT_CATEGORIES, DEFAULTS
from scratchlab.runner.plan import plan, plan_warnings
from scratchlab.runner.spec import Include, PlanError, SweepSpec

# --------------------------------------------------------------------------- counts (hypothesis)

category_sets = st.lists(st.sampled_from(COMPONENT_CATEGORIES), unique=True)


@st.composite
def sweeps(draw):
    """A random registry and a random spec over it."""
    sizes = {c: draw(st.integers(1, 3)) for c in COMPONENT_CATEGORIES}
    components = {c: [DEFAULTS[c], *(f"{c}-{i}" for i in range(1, n))] for c, n in sizes.items()}
    experiments = [
        (f"exp-{i}", tuple(draw(category_sets)), {}) for i in range(draw(st.integers(1, 4)))
    ]
    swept = draw(category_sets)
    narrowed = {}
    for category in draw(category_sets):
        names = draw(st.lists(st.sampled_from(components[category]), min_size=1, unique=True))
        narrowed[category] = tuple(names)
    devices = tuple(
        draw(st.lists(st.sampled_from(["cpu", "cuda", "cuda:1"]), min_size=1, unique=True))
    )
    spec = SweepSpec(
        plugins=tuple(swept),
        components=narrowed,
        devices=devices,
        repeat=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**31)),
    )
    return make_registry(components, experiments), components, experiments, spec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sweeps())
def test_run_count_is_the_product_over_each_experiments_own_categories(case):
    registry, components, experiments, spec = case
    swept = set(spec.plugins) | set(spec.components)

    def choices(category):
        if category in spec.components:
            return len(spec.components[category])
        return len(components[category]) if category in spec.plugins else 1

    chosen = [(name, uses) for name, uses, _ in experiments if set(uses) & swept]
    if not swept:
        with pytest.raises(PlanError, match="nothing to sweep"):
            plan(spec, registry)
        return
    if not chosen:
        with pytest.raises(PlanError, match="no experiment uses"):
            plan(spec, registry)
        return
    runs = plan(spec, registry)
    expected = (
        sum(math.prod(choices(c) for c in uses) for _, uses in chosen)
        * len(spec.devices)
        * spec.repeat
    )
    assert len(runs) == expected
    assert len({r.key for r in runs}) == len(runs)
    for run in runs:
        uses = registry.get("experiment", run.experiment).component.uses
        assert tuple(run.components) == uses  # exactly the categories it uses, nothing else
        for category, name in run.components.items():
            if category not in swept:
                assert name == DEFAULTS[category]
        assert run.seed == spec.seed + run.repeat


def test_an_experiment_runs_once_per_combination_of_its_own_categories_only():
    registry = make_registry(
        with_defaults(2), [("mm", ("matmul",), {}), ("both", ("matmul", "init"), {})]
    )
    runs = plan(SweepSpec(plugins=("matmul", "init")), registry)
    by_experiment = {e: [r for r in runs if r.experiment == e] for e in ("mm", "both")}
    assert len(by_experiment["mm"]) == 3  # not 3 x 3: mm does not use init
    assert len(by_experiment["both"]) == 9


def test_duplicates_from_includes_and_repeated_names_collapse(tmp_path):
    registry = make_registry(with_defaults(2), [("mm", ("matmul",), {"n": 1})])
    spec = SweepSpec(
        components={"matmul": ("matmul-0", "torch", "matmul-0")[:2]},
        includes=(Include("mm", {"matmul": "torch"}), Include("mm", {"matmul": "torch"}, {"n": 1})),
    )
    runs = plan(spec, registry)
    assert sorted(r.components["matmul"] for r in runs) == ["matmul-0", "torch"]
    # an include that differs in a param is a new run
    more = plan(SweepSpec(includes=(Include("mm", {"matmul": "torch"}, {"n": 2}),)), registry)
    assert [r.params["n"] for r in more] == [2]


def test_includes_make_grids_that_are_not_a_full_product():
    registry = make_registry(with_defaults(2), [("pair", ("matmul", "init"), {"lr": 0.5})])
    spec = SweepSpec(
        includes=(
            Include("pair", {"matmul": "torch", "init": "init-0"}, {"lr": 0.1}),
            Include("pair", {"matmul": "matmul-1"}),
        )
    )
    runs = plan(spec, registry)
    assert [(r.components, r.params["lr"]) for r in runs] == [
        ({"matmul": "torch", "init": "init-0"}, 0.1),
        ({"matmul": "matmul-1", "init": DEFAULTS["init"]}, 0.5),
    ]


def test_component_settings_apply_only_where_the_component_is_used():
    registry = toy_registry()
    runs = plan(
        SweepSpec(plugins=("matmul",), experiments=("train",), settings={"torch": {"block": 8}}),
        registry,
    )
    assert {r.components["matmul"]: r.params.get("torch.block") for r in runs} == {
        "torch": 8,
        "matmul-0": None,
    }
    assert (
        plan_warnings(SweepSpec(plugins=("matmul",), settings={"init-0": {}}), runs, registry) == []
    )
    warnings = plan_warnings(
        SweepSpec(
            plugins=("matmul", "loss"), settings={"mnist-5k": {"path": "x"}, "init-0": {"p": 1}}
        ),
        runs,
        registry,
    )
    assert warnings == [
        "-s init-0.p is not used by any planned run",
        "loss is swept but none of the planned experiments uses it",
    ]


def test_a_data_path_no_planned_dataset_reads_is_refused():
    registry = make_registry(with_defaults(0), [("mm", ("matmul",), {})])
    with pytest.raises(PlanError, match="no planned run uses a dataset that reads a path"):
        plan(SweepSpec(experiments=("mm",), data_path="/x"), registry)
