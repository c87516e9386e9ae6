"""Categories are data: a plugin adds one, another plugin may register its
components before or after, through the derived hook or the generic one, and a
bad category fails only the plugin that defines it, in one line."""

from __future__ import annotations

import pytest

from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

CATEGORY = """
from dataclasses import dataclass
from typing import Any, Callable, ClassVar
from scratchlab.plugins import Category, Component, Experiment, hookimpl

@dataclass(frozen=True, kw_only=True)
class Sampler(Component):
    fn: Callable[..., float]
    CATEGORY: ClassVar[str] = "sampler"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)

@hookimpl
def register_categories(register):
    register(Category(name="sampler", type=Sampler, default="constant", description="which rows a batch takes"))

@hookimpl
def register_samplers(register):
    register(Sampler(name="constant", fn=lambda t: 1.0))

@hookimpl
def register_experiments(register):
    register(Experiment(name="draw", run=lambda ctx: None, uses=("sampler",)))
"""

# loaded before the plugin that adds the category: its hook has no spec yet when it registers
EARLY = """
from scratchlab.plugins import hookimpl

@hookimpl
def register_samplers(register):
    register({"name": "cosine", "fn": lambda t: 0.5})

@hookimpl
def register_components(register):
    register({"name": "linear", "fn": lambda t: 1 - t}, category="sampler")
"""


def test_a_plugin_category_takes_components_from_any_plugin_in_any_order(plugin_path):
    plugin_path({"early_mod": EARLY, "sampler_mod": CATEGORY})
    plugins = load_plugins(["early_mod", "sampler_mod"])
    assert not plugins.failures and not plugins.warnings, (plugins.failures, plugins.warnings)
    registry = plugins.registry
    assert [c.name for c in registry.categories()][-1] == "sampler"
    assert (
        registry.category_owner("sampler") == "sampler_mod"
        and registry.default("sampler") == "constant"
    )
    assert sorted(registry.names("sampler")) == ["constant", "cosine", "linear"]
    runs = plan(SweepSpec(plugins=("sampler",)), registry)
    assert sorted(r.components["sampler"] for r in runs) == ["constant", "cosine", "linear"]
    assert {r.experiment for r in runs} == {
        "draw"
    }  # the category's own experiment joins by default


@pytest.mark.parametrize(
    ("category", "message"),
    [
        (
            'Category(name="matmul", type=__import__("scratchlab.plugins").plugins.Matmul)',
            "category 'matmul' already exists",
        ),
        (
            'Category(name="status", type=type("S", (Sampler,), {"CATEGORY": "status"}))',
            "category name 'status' is reserved",
        ),
        (
            'Category(name="other", type=Sampler)',
            "its type Sampler has CATEGORY = 'sampler'; set CATEGORY",
        ),
        ('Category(name="Bad Name", type=Sampler)', "category name 'Bad Name' is not valid"),
    ],
)
def test_a_bad_category_fails_its_plugin_in_one_line(plugin_path, category, message):
    source = CATEGORY.replace(
        'register(Category(name="sampler", type=Sampler, default="constant", description="which rows a batch takes"))',
        f"register({category})",
    )
    plugin_path({"bad_category_mod": source})
    plugins = load_plugins(["bad_category_mod"])
    (failure,) = plugins.failures
    assert message in failure.error and "\n" not in failure.error
    assert "matmul" in [
        c.name for c in plugins.registry.categories()
    ]  # the rest of the tool keeps working


def test_an_experiment_using_an_unknown_category_fails_its_plugin(plugin_path):
    plugin_path(
        {
            "lonely_mod": """
from scratchlab.plugins import Experiment, hookimpl

@hookimpl
def register_experiments(register):
    register(Experiment(name="lonely", run=lambda ctx: None, uses=("regulariser",)))
"""
        }
    )
    (failure,) = load_plugins(["lonely_mod"]).failures
    assert failure.error.startswith(
        "registering: plugin 'lonely_mod': experiment 'lonely' uses unknown category regulariser;"
        " known: matmul, init, activation, loss, dataset"
    )
