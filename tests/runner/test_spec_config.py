"""``--config`` files: the spec a file holds, merged with the flags (a given flag wins),
and every mistake in a file as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.toy_registries import toy_registry

from scratchlab.plugins.types import DEFAULTS
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import Include, PlanError, SweepSpec
from scratchlab.runner.spec_config import load_config, merge_spec_args

CONFIG = """
plugins = "matmul"
init = ["init-0"]
experiments = ["train"]
devices = ["cpu"]
repeat = 2
seed = 7
name = "from-file"

[set]
"train.lr" = 0.1

[params.torch]
block = 16

[[include]]
experiment = "train"
matmul = "torch"
activation = "activation-0"
params = { lr = 1, "torch.block" = 32 }
"""


def test_a_config_file_holds_the_spec_and_flags_override_it(tmp_path: Path):
    path = tmp_path / "sweep.toml"
    path.write_text(CONFIG)
    file_args = load_config(path)
    assert file_args["name"] == "from-file"
    args = merge_spec_args(
        {k: v for k, v in file_args.items() if k != "name"},
        {
            "repeat": 1,
            "seed": None,
            "settings": {"train": {"bs": "16"}},
            "components": {"matmul": ("matmul-0",)},
        },
    )
    spec = SweepSpec(**args)
    assert spec.repeat == 1 and spec.seed == 7
    runs = plan(spec, toy_registry())
    product = [r for r in runs if r.components["activation"] == DEFAULTS["activation"]]
    assert [
        (r.components["matmul"], r.components["init"], r.params["lr"], r.params["bs"])
        for r in product
    ] == [("matmul-0", "init-0", 0.1, 16)]
    (included,) = [r for r in runs if r.components["activation"] == "activation-0"]
    # the include's params win; its init is the sweep's single narrowed choice
    assert (included.params["lr"], included.params["torch.block"], included.components["init"]) == (
        1.0,
        32,
        "init-0",
    )
    assert isinstance(included.params["lr"], float)


def test_a_config_file_reads_into_the_specs_arguments(tmp_path: Path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'device = "cpu"\nthreads = "1,auto"\ndeterministic = true\nmax-runs = 50\n'
        'data-path = "/d"\n[[include]]\nexperiment = "train"\ninit = "xavier"\n'
    )
    assert load_config(path) == {
        "devices": ("cpu",),
        "threads": (1, None),
        "deterministic": True,
        "max_runs": 50,
        "data_path": "/d",
        "includes": (Include("train", {"init": "xavier"}, {}),),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plugins = [", "not valid TOML"),
        (
            "plugin = 1",
            "plugin must be component names (a string or a list of strings); other keys:",
        ),
        ("repeat = 'two'", "repeat must be an integer"),
        ("[[include]]\nmatmul = 'torch'", "[[include]] needs experiment = NAME"),
        ("[set]\n'lr' = 1", "[set] key 'lr' must be NAME.PARAM"),
        ("[set]\n'train.lr' = 1\n[params.train]\nlr = 2", "sets train.lr twice"),
        ("device = 'cpu'\ndevices = ['cpu']", "give either device or devices, not both"),
        ("deterministic = 'yes'", "deterministic must be true or false"),
        ("include = 3", "include must be [[include]] tables"),
        ("[params]\ntrain = 1", "[params.train] must be a table of param = value"),
    ],
)
def test_config_mistakes_are_one_line_errors(tmp_path: Path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PlanError) as info:
        load_config(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_settings_merge_per_param_and_components_per_category():
    merged = merge_spec_args(
        {"components": {"init": ("a",), "matmul": ("b",)}, "settings": {"train": {"lr": 1}}},
        {"components": {"init": ("c",)}, "settings": {"train": {"bs": 2}}, "seed": None},
    )
    assert merged == {
        "components": {"init": ("c",), "matmul": ("b",)},
        "settings": {"train": {"lr": 1, "bs": 2}},
    }
