"""Plugin authoring mistakes are surfaced, each as one line: a mistyped hook, a
duplicate name, the disable switch by any of a plugin's names, a component of a
plugin that failed to load, where a planned experiment comes from, and a
plugin experiment that would otherwise join the README's main job."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import plan, plan_warnings
from scratchlab.runner.spec import PlanError, SweepSpec

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

MISTYPED = """
from scratchlab.plugins import Matmul, hookimpl

@hookimpl
def register_matmul(register):  # singular: not a hook
    register(Matmul(name="never", fn=lambda a, b: a @ b))
"""

EXTRA = """
from scratchlab.plugins import Experiment, Matmul, hookimpl

@hookimpl
def register_matmuls(register):
    register(Matmul(name="extra-mm", fn=lambda a, b: a @ b))

@hookimpl
def register_experiments(register):
    register(Experiment(name="extra", run=lambda ctx: None, uses=("matmul",)))
"""

HALF_BROKEN = """
from scratchlab.plugins import Matmul, hookimpl

@hookimpl
def register_matmuls(register):
    register(Matmul(name="blocked", fn=lambda a, b: a @ b))
    raise RuntimeError("the second half of this plugin is broken")
"""


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_a_hook_name_no_hookspec_has_warns_with_the_closest_hook(plugin_path):
    plugin_path({"mistyped_mod": MISTYPED})
    plugins = load_plugins(["mistyped_mod"])
    assert plugins.warnings == [
        "plugin 'mistyped_mod': 'register_matmul' is not a scratchlab hook, so it is never called;"
        " did you mean 'register_matmuls'?"
    ]
    result = invoke("--plugin", "mistyped_mod", "plugins", "--json")
    assert result.exit_code == 0
    assert (
        "warning: plugin 'mistyped_mod': 'register_matmul' is not a scratchlab hook"
        in result.stderr
    )


@pytest.mark.parametrize("name", ["extraplug", "scratchlab-extra", "extra_mod"])
def test_the_disable_switch_takes_the_entry_point_distribution_or_module_name(plugin_path, name):
    plugin_path(
        {"extra_mod": EXTRA},
        dist=("scratchlab-extra", "0.1"),
        entry_points={"extraplug": "extra_mod"},
    )
    assert "extra-mm" in load_plugins(disabled=[]).registry.names("matmul")
    plugins = load_plugins(disabled=[name])
    assert "extra-mm" not in plugins.registry.names("matmul")
    (info,) = [i for i in plugins.infos if i.name == "extraplug"]
    assert info.status == "disabled"
    result = invoke("plugins", "--json", env={"SCRATCHLAB_DISABLE_PLUGINS": name})
    (shown,) = [p for p in json.loads(result.stdout)["plugins"] if p["name"] == "extraplug"]
    assert shown["status"] == "disabled"


def test_naming_a_component_of_a_plugin_that_failed_to_load_says_so(plugin_path):
    plugin_path({"half_mod": HALF_BROKEN})
    plugins = load_plugins(["half_mod"])
    with pytest.raises(PlanError) as caught:
        plan(
            SweepSpec(components={"matmul": ("blocked",)}, experiments=("matmul",)),
            plugins.registry,
        )
    assert str(caught.value) == (
        "--matmul: matmul 'blocked' comes from plugin 'half_mod', which failed to load:"
        " registering: RuntimeError: the second half of this plugin is broken"
    )


def test_a_dry_run_shows_which_plugin_each_planned_experiment_comes_from(plugin_path):
    plugin_path({"extra_mod": EXTRA})
    result = invoke(
        "--plugin",
        "extra_mod",
        "sweep",
        "--experiments",
        "extra,matmul",
        "--matmul",
        "torch",
        "--dry-run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    plugins = {r["experiment"]: r["plugin"] for r in json.loads(result.stdout)["runs"]}
    assert plugins == {"extra": "extra_mod", "matmul": "scratchlab.plugins.experiments"}
    table = invoke(
        "--plugin", "extra_mod", "sweep", "--experiments", "extra", "--matmul", "torch", "--dry-run"
    )
    assert "extra_mod" in table.stdout and "plugin" in table.stdout


def test_a_plugin_experiment_joins_a_sweep_of_built_in_categories_only_when_named(plugin_path):
    plugin_path({"extra_mod": EXTRA})
    plugins = load_plugins(["extra_mod"])
    spec = SweepSpec(plugins=("matmul", "init"))
    runs = plan(spec, plugins.registry)
    assert "extra" not in {r.experiment for r in runs}
    assert (
        "experiment 'extra' from plugin 'extra_mod' also uses matmul; it runs only when named: --experiments extra"
        in plan_warnings(spec, runs, plugins.registry)
    )
    named = plan(SweepSpec(plugins=("matmul",), experiments=("extra", "matmul")), plugins.registry)
    assert {r.experiment for r in named} == {"extra", "matmul"}
