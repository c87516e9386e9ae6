"""Plugin discovery, registration checks and the failure switches, seen through `runner plugins`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scratchlab.plugins.manager import PluginError, load_plugins
from scratchlab.runner.cli import cli

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

GOOD = """
from scratchlab.plugins import Matmul, hookimpl

@hookimpl
def register_matmuls(register):
    register(Matmul(name="fake-mm", fn=lambda a, b: a @ b, max_madds=1e9,
                    description="A third-party matmul.\\nMore text."))
"""

BROKEN_IMPORT = """
raise RuntimeError("this plugin is broken on purpose")
"""


def plugins_json(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, [*args, "plugins", "--json"], env=env)
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def component_names(payload, category: str) -> list[str]:
    return [c["name"] for c in payload["components"][category]]


def test_installed_distribution_is_discovered_through_its_entry_point(plugin_path):
    plugin_path(
        {"fakeplug_mod": GOOD},
        dist=("fakeplug", "1.2.3"),
        entry_points={"fakeplug": "fakeplug_mod"},
    )
    result, payload = plugins_json()
    assert result.exit_code == 0, result.output
    (entry,) = [c for c in payload["components"]["matmul"] if c["name"] == "fake-mm"]
    assert entry["plugin"] == "fakeplug"
    assert entry["distribution"] == "fakeplug"
    assert entry["version"].startswith("1.2.3+")
    assert entry["description"] == "A third-party matmul."
    (info,) = [p for p in payload["plugins"] if p["name"] == "fakeplug"]
    assert info["source"] == "entrypoint" and info["status"] == "ok"
    assert info["components"] == ["matmul:fake-mm"]


def test_broken_plugin_is_skipped_with_a_warning_and_the_others_work(plugin_path):
    plugin_path(
        {"fakeplug_mod": GOOD, "brokenplug_mod": BROKEN_IMPORT},
        dist=("twoplugs", "0.1"),
        entry_points={"broken": "brokenplug_mod", "good": "fakeplug_mod"},
    )
    result, payload = plugins_json()
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "broken" in line]
    assert warnings == [
        'warning: skipped plugin "broken": importing: RuntimeError: this plugin is broken on purpose'
    ]
    assert "fake-mm" in component_names(payload, "matmul")
    (info,) = [p for p in payload["plugins"] if p["name"] == "broken"]
    assert info["status"] == "failed"
    assert "broken on purpose" in info["error"]


def test_strict_switch_turns_a_broken_plugin_into_an_error(plugin_path):
    plugin_path(
        {"brokenplug_mod": BROKEN_IMPORT},
        dist=("brokenplug", "0.1"),
        entry_points={"broken": "brokenplug_mod"},
    )
    result, _ = plugins_json(env={"SCRATCHLAB_STRICT_PLUGINS": "1"})
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        'Error: Error importing plugin "broken": RuntimeError: this plugin is broken on purpose'
    ]
    assert "Traceback" not in result.output


def test_disable_switch_blocks_a_plugin_by_name(plugin_path):
    plugin_path(
        {"fakeplug_mod": GOOD}, dist=("fakeplug", "1.0"), entry_points={"fakeplug": "fakeplug_mod"}
    )
    result, payload = plugins_json(env={"SCRATCHLAB_DISABLE_PLUGINS": "other, fakeplug"})
    assert result.exit_code == 0, result.output
    assert "fake-mm" not in component_names(payload, "matmul")
    (info,) = [p for p in payload["plugins"] if p["name"] == "fakeplug"]
    assert info["status"] == "disabled"


def test_plugin_option_loads_a_module_that_is_not_installed(plugin_path):
    plugin_path({"local_plugin_mod": GOOD})
    result, payload = plugins_json("--plugin", "local_plugin_mod")
    assert result.exit_code == 0, result.output
    (entry,) = [c for c in payload["components"]["matmul"] if c["name"] == "fake-mm"]
    assert entry["plugin"] == "local_plugin_mod"


def test_a_plugin_module_named_on_the_command_line_that_cannot_load_is_a_usage_error():
    result, _ = plugins_json("--plugin", "no_such_module_xyz")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --plugin no_such_module_xyz: importing: ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )
    assert "Traceback" not in result.output


DUPLICATE = """
from scratchlab.plugins import Matmul, hookimpl

@hookimpl
def register_matmuls(register):
    register(Matmul(name="unique-before-dup", fn=lambda a, b: a @ b))
    register(Matmul(name="fake-mm", fn=lambda a, b: a @ b))
"""


def test_a_duplicate_name_drops_only_that_component_with_a_warning_naming_both_plugins(plugin_path):
    plugin_path({"first_mod": GOOD, "second_mod": DUPLICATE})
    plugins = load_plugins(["first_mod", "second_mod"])
    assert not plugins.failures
    assert plugins.warnings == [
        "matmul 'fake-mm' from plugin 'second_mod' is dropped: plugin 'first_mod' already registered that name"
    ]
    names = plugins.registry.names("matmul")
    # the rest of the second plugin stays
    assert "unique-before-dup" in names
    assert plugins.registry.get("matmul", "fake-mm").plugin == "first_mod"
    result = CliRunner().invoke(
        cli, ["--plugin", "first_mod", "--plugin", "second_mod", "plugins", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: matmul 'fake-mm' from plugin 'second_mod' is dropped" in result.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('register({"name": "no-fn"})', "matmul 'no-fn' is missing field(s): fn"),
        (
            'register(Init(name="wrong", fn=lambda w, g: None))',
            "register_matmuls expects a Matmul (or a dict of its fields), got Init",
        ),
        (
            'register(Matmul(name="Bad Name", fn=lambda a, b: a))',
            "matmul name 'Bad Name' is not valid",
        ),
        (
            'register(Matmul(name="not-callable", fn=42))',
            "matmul 'not-callable': fn must be callable",
        ),
        ('register({"name": "extra", "fn": len, "colour": 1})', "unknown field(s): colour"),
    ],
)
def test_invalid_registrations_are_rejected_with_one_clear_message(plugin_path, body, message):
    plugin_path(
        {
            "invalid_mod": f"""
from scratchlab.plugins import Init, Matmul, hookimpl

@hookimpl
def register_matmuls(register):
    {body}
"""
        }
    )
    plugins = load_plugins(["invalid_mod"])
    (failure,) = [i for i in plugins.failures if i.name == "invalid_mod"]
    assert message in failure.error
    assert failure.error.startswith("registering: plugin 'invalid_mod': ")
    with pytest.raises(PluginError, match="Error registering plugin"):
        load_plugins(["invalid_mod"], strict=True, builtins=())


def test_dict_registration_is_accepted(plugin_path):
    plugin_path(
        {
            "dict_mod": """
from scratchlab.plugins import hookimpl

@hookimpl
def register_activations(register):
    register({"name": "square", "forward": lambda x: x * x, "gain": 1.0, "description": "x squared"})
"""
        }
    )
    plugins = load_plugins(["dict_mod"])
    assert plugins.registry.get("activation", "square").component.description == "x squared"


def test_unknown_component_lookup_lists_the_valid_names(plugin_path):
    plugin_path({"first_mod": GOOD})
    plugins = load_plugins(["first_mod"], builtins=())
    with pytest.raises(LookupError, match=r"unknown matmul 'nope'; valid: fake-mm"):
        plugins.registry.get("matmul", "nope")
