"""``runner sweep --help`` lists an option for every category: built-in, added by
scratchlab's training plugins, or added by an installed plugin."""

from __future__ import annotations

from click.testing import CliRunner

from scratchlab.runner.cli import cli

REGULARIZER_PLUGIN = """
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from scratchlab.plugins import Category, hookimpl
from scratchlab.plugins.types import Component


@dataclass(frozen=True, kw_only=True)
class Regularizer(Component):
    penalty: Callable[..., Any]
    CATEGORY: ClassVar[str] = "regularizer"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("penalty",)


def l2(weights):
    return sum((w * w).sum() for w in weights)


@hookimpl
def register_categories(register):
    register(Category(name="regularizer", type=Regularizer, default="l2", description="a penalty"))


@hookimpl
def register_regularizers(register):
    register(Regularizer(name="l2", penalty=l2, description="sum of squares"))
"""


def sweep_help() -> str:
    result = CliRunner().invoke(cli, ["sweep", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_has_an_option_for_every_builtin_and_training_category(clean_plugin_env):
    text = sweep_help()
    flat = " ".join(text.split())  # click wraps the help at 80 columns
    for option, default in [
        ("--matmul NAMES", "torch"),
        ("--optimizer NAMES", "sgd"),
        ("--schedule NAMES", "constant"),
        ("--norm NAMES", "none"),
    ]:
        assert option in flat and f"[default: {default}]" in flat
    plugins_help = " ".join(text.split("--plugins CATEGORIES", 1)[1].split("--matmul")[0].split())
    assert "optimizer, schedule, norm" in plugins_help
    assert "Categories from installed plugins" not in text


def test_help_lists_the_category_of_an_installed_plugin(plugin_path, clean_plugin_env):
    plugin_path(
        {"regularizer_plugin": REGULARIZER_PLUGIN},
        dist=("scratchlab-regularizers", "0.2.0"),
        entry_points={"regularizers": "regularizer_plugin"},
    )
    text = sweep_help()
    section = text.split("Categories from installed plugins:", 1)[1]
    assert "--regularizer NAMES" in section and "[default: l2]" in section
    assert "--optimizer" not in section  # scratchlab's own, listed with the built-ins


def test_a_near_miss_option_points_to_the_option_meant(tmp_path):
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(
        cli, ["--db", f"sqlite:///{db}", "sweep", "--plugin", "matmul"], terminal_width=80
    )
    assert result.exit_code == 2
    assert "no such option: --plugin; did you mean --plugins?" in result.output
    assert not db.exists()
