"""Sweep planning: run counts, deduplication, keys, settings and limits."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from fixtures.toy_registries import make_registry, toy_registry, with_defaults
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchlab.plugins.types import COMPONENT_CATEGORIES, DEFAULTS
from scratchlab.runner.plan import plan, plan_warnings, run_identity, run_key
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


# --------------------------------------------------------------------------- keys

KEY_FIELDS = ("experiment", "components", "versions", "params", "device", "dtype", "seed", "repeat")
key_args = st.fixed_dictionaries(
    {
        "experiment": st.sampled_from(["train", "matmul"]),
        "components": st.dictionaries(
            st.sampled_from(COMPONENT_CATEGORIES), st.sampled_from(["a", "b"]), min_size=1
        ),
        "versions": st.just({}),
        "params": st.dictionaries(
            st.sampled_from(["lr", "bs", "x.y"]),
            st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3)),
        ),
        "device": st.sampled_from(["cpu", "cuda"]),
        "dtype": st.sampled_from(["float32", "float64"]),
        "seed": st.integers(0, 100),
        "repeat": st.integers(0, 3),
    }
)


def _changed(args: dict, field: str, data) -> dict:
    new = dict(args)
    if field == "components":
        category = data.draw(st.sampled_from(COMPONENT_CATEGORIES))
        new[field] = {**args[field], category: args[field].get(category, "a") + "-other"}
    elif field == "versions":
        category = data.draw(st.sampled_from([*args["components"], "experiment"]))
        new[field] = {**args[field], category: "2.0+deadbeef"}
    elif field == "params":
        new[field] = {**args[field], "lr": ("changed", args[field].get("lr"))}
    elif field in ("seed", "repeat"):
        new[field] = args[field] + 1
    else:
        new[field] = args[field] + "x"
    return new


@settings(max_examples=200, deadline=None)
@given(key_args, st.sampled_from(KEY_FIELDS), st.data())
def test_the_key_changes_when_any_input_changes(args, field, data):
    assert run_key(**args) == run_key(**args)
    assert run_key(**_changed(args, field, data)) != run_key(**args)


def test_key_ignores_dict_order_and_uses_the_params_types():
    base = {
        "experiment": "e",
        "components": {"matmul": "a", "init": "b"},
        "versions": {"matmul": "1"},
        "params": {"lr": 0.5, "bs": 64},
        "device": "cpu",
        "dtype": "float32",
        "seed": 0,
        "repeat": 0,
    }
    reordered = {
        **base,
        "components": {"init": "b", "matmul": "a"},
        "params": {"bs": 64, "lr": 0.5},
    }
    assert run_key(**base) == run_key(**reordered)
    assert run_key(**base) != run_key(**{**base, "params": {"lr": 0.5, "bs": 64.0}})


SPEC = SweepSpec(
    plugins=("matmul",),
    experiments=("echo",),
    repeat=2,
    settings={"echo": {"scale": "2.5", "tags": "x,y"}, "toy-b": {"bias": "0.25"}},
)

PLAN_KEYS_SCRIPT = """
import json
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec
registry = load_plugins(["sweeptoy"], builtins=()).registry
print(json.dumps([r.key for r in plan(SweepSpec.from_json(json.loads(%r)), registry)]))
"""


def test_keys_are_stable_across_processes(toy_path):
    from scratchlab.plugins.manager import load_plugins

    here = [r.key for r in plan(SPEC, load_plugins(["sweeptoy"], builtins=()).registry)]
    assert len(set(here)) == 6  # 3 toy matmuls x 2 repeats
    script = PLAN_KEYS_SCRIPT % json.dumps(SPEC.to_json())
    for hash_seed in ("1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert json.loads(result.stdout) == here


def test_a_change_in_a_components_code_changes_its_runs_keys_only():
    def body_one(a, b):
        return a @ b

    def body_two(a, b):
        return (a @ b) * 1

    one = make_registry(
        with_defaults(1), [("mm", ("matmul",), {}), ("in", ("init",), {})], source=body_one
    )
    two = make_registry(
        with_defaults(1), [("mm", ("matmul",), {}), ("in", ("init",), {})], source=body_two
    )
    spec = SweepSpec(plugins=("matmul", "init"))
    keys_one, keys_two = ([r.key for r in plan(spec, reg)] for reg in (one, two))
    assert set(keys_one).isdisjoint(keys_two)  # every component's source changed
    assert [run_identity(r) for r in plan(spec, one)] == [run_identity(r) for r in plan(spec, two)]


# --------------------------------------------------------------------------- settings


def one_run(**spec_args):
    (run,) = plan(SweepSpec(experiments=("train",), **spec_args), toy_registry())
    return run


def test_params_are_complete_with_defaults_and_typed_by_the_default():
    run = one_run(
        settings={
            "train": {
                "lr": "0.1",
                "bs": "32",
                "shuffle": "yes",
                "shapes": "5x784x10, 64x784x50",
                "extra": "[1, 2]",
            },
            "torch": {"block": "128"},
            "activation:relu": {"slope": "0.2"},
        }
    )
    assert run.params == {
        "lr": 0.1,
        "bs": 32,
        "shuffle": True,
        "shapes": ["5x784x10", "64x784x50"],
        "note": "",
        "extra": [1, 2],
        "torch.block": 128,
        "relu.slope": 0.2,
        "relu.inplace": False,
        "mnist-5k.path": "",
    }
    assert run.component_versions["experiment"].startswith("1.0+")
    assert set(run.component_versions) == {"init", "activation", "matmul", "dataset", "experiment"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"trian": {"lr": "1"}},
            "no experiment or component named 'trian'; experiments: train, relu; components:",
        ),
        (
            {"train": {"momentum": "1"}},
            "experiment 'train' has no param 'momentum'; params: lr, bs, shuffle",
        ),
        ({"train": {"bs": "1.5"}}, "train.bs='1.5': expected an integer (default 64)"),
        ({"train": {"shuffle": "maybe"}}, "expected true or false"),
        ({"train": {"lr": "fast"}}, "expected a number"),
        (
            {"relu": {"slope": "1"}},
            "'relu' is ambiguous: it names activation 'relu' and experiment 'relu'",
        ),
        ({"bogus:relu": {"slope": "1"}}, "unknown category 'bogus'"),
    ],
)
def test_bad_settings_are_rejected_naming_the_valid_choices(settings, message):
    with pytest.raises(PlanError) as info:
        one_run(settings=settings)
    assert message in str(info.value)


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


def test_data_path_sets_the_dataset_path_where_there_is_one():
    assert one_run(data_path="/data/mnist.pkl.gz").params["mnist-5k.path"] == "/data/mnist.pkl.gz"
    registry = make_registry(with_defaults(0), [("mm", ("matmul",), {})])
    with pytest.raises(PlanError, match="no planned run uses a dataset that reads a path"):
        plan(SweepSpec(experiments=("mm",), data_path="/x"), registry)


def test_the_run_limit_is_counted_before_runs_are_built_and_kept_with_the_spec():
    registry = toy_registry()
    spec = SweepSpec(plugins=("matmul",), experiments=("train",), repeat=3, max_runs=5)
    with pytest.raises(PlanError, match=r"the plan has 6 runs \(train 6\).*--max-runs 6"):
        plan(spec, registry)
    assert len(plan(SweepSpec(**{**spec.__dict__, "max_runs": 6}), registry)) == 6
    assert SweepSpec.from_json(spec.to_json()).max_runs == 5
    # a spec stored before plans had a limit was planned whole: resuming it is not refused
    legacy = {k: v for k, v in spec.to_json().items() if k != "max_runs"}
    assert SweepSpec.from_json(legacy).max_runs >= 10_000_000
