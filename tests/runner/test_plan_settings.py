"""``-s`` settings checked against the registry: what a name refers to, its params, its
value parsed by the param's default; each mistake one line naming the valid choices."""

from __future__ import annotations

import pytest
from fixtures.toy_registries import one_run, toy_registry

from scratchlab.runner.plan_settings import Target, resolve_settings, setting_param
from scratchlab.runner.spec import PlanError


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


def test_a_setting_names_its_target_and_param_with_the_default_and_bound():
    registry = toy_registry()
    assert setting_param(registry, "train", "lr") == ("experiment", "train", 0.5, None)
    assert setting_param(registry, "activation:relu", "slope") == ("activation", "relu", 0.0, None)
    with pytest.raises(PlanError, match="has no param 'momentum'; params: lr, bs"):
        setting_param(registry, "train", "momentum")


def test_settings_resolve_to_typed_values_per_target():
    resolved = resolve_settings(
        {"train": {"bs": "32"}, "experiment:relu": {}, "torch": {"block": "8"}}, toy_registry()
    )
    assert resolved == {
        Target("experiment", "train"): {"bs": 32},
        Target("matmul", "torch"): {"block": 8},
    }
