"""Run keys: every input a run depends on changes its key, nothing else does, the same
plan gives the same keys in any process, and a run's identity survives a code change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fixtures.toy_registries import make_registry, with_defaults
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.plugins.types import COMPONENT_CATEGORIES
from scratchlab.runner.plan import plan
from scratchlab.runner.run_keys import canonical_json, run_identity, run_key
from scratchlab.runner.spec import SweepSpec

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


def test_canonical_json_is_the_same_text_for_the_same_value():
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"\\u00e9"],"b":1}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})
    assert canonical_json(float("nan")) == "NaN"


def test_threads_and_deterministic_count_only_when_set():
    args = dict(
        experiment="e", components={}, versions={}, params={}, device="cpu", dtype="float32"
    )
    before = run_key(**args, seed=0, repeat=0)
    assert run_key(**args, seed=0, repeat=0, threads=None, deterministic=False) == before
    assert run_key(**args, seed=0, repeat=0, threads=1) != before
    assert run_key(**args, seed=0, repeat=0, deterministic=True) != before
