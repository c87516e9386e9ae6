"""A planned run's params: complete (defaults, suggestions, settings, --data-path, an
include's own), typed by their defaults, and checked against the declared bounds and
the experiment's own check before anything is stored."""

from __future__ import annotations

import pytest
from fixtures.toy_registries import one_run, toy_registry

from scratchlab.plugins.registry import Registry
from scratchlab.runner.plan_params import check_combination, data_path_param, run_params
from scratchlab.runner.spec import Include, PlanError


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


def test_data_path_sets_the_dataset_path_where_there_is_one():
    assert one_run(data_path="/data/mnist.pkl.gz").params["mnist-5k.path"] == "/data/mnist.pkl.gz"


def test_an_includes_params_win_and_must_belong_to_the_combination():
    registry = toy_registry()
    components = {"init": "init-0", "activation": "relu", "matmul": "torch", "dataset": "mnist-5k"}
    params = run_params(
        "train", components, registry, {}, None, Include("train", {}, {"lr": 1, "relu.slope": 0.5})
    )
    assert (params["lr"], params["relu.slope"], params["torch.block"]) == (1.0, 0.5, 64)
    with pytest.raises(PlanError, match="not a param of this combination; params: lr, bs"):
        run_params("train", components, registry, {}, None, Include("train", {}, {"x.y": 1}))


def test_data_path_sets_the_first_path_param_a_dataset_has():
    assert data_path_param({"directory": "", "path": ""}) == "path"
    assert data_path_param({"directory": ""}) == "directory"
    assert data_path_param({"n": 1}) is None


def test_an_experiments_check_refuses_a_combination_with_its_own_line():
    def run(ctx):
        return None

    def check(components, params):
        return None if params["width"] % 2 == 0 else f"width {params['width']} is odd"

    registry = Registry()
    register = registry.registrar("experiment", "test", "testdist", "1.0", [], builtin=True)
    register({"name": "even", "run": run, "uses": (), "params": {"width": 2}, "check": check})
    check_combination("even", {}, {"width": 4}, registry)
    with pytest.raises(PlanError, match=r"^even: width 3 is odd$"):
        check_combination("even", {}, {"width": 3}, registry)
