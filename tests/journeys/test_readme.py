"""The README's commands and its plugin example stay true."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from scratchlab.plugins import bind
from scratchlab.plugins.manager import load_plugins

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def fenced_block(marker: str) -> str:
    """The code inside the fence between ``<!-- marker -->`` and ``<!-- /marker -->``."""
    match = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```\n<!-- /{marker} -->", README, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_readme_starts_with_the_two_setup_commands():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)[:2]
    main, tests = commands
    assert main.startswith("pip install torch==2.13.0 && pip install -e . && ")
    assert main.endswith("runner sweep --plugins matmul,init")
    assert tests == fenced_block("test-command").strip()
    assert '".[test]"' in tests and "pytest" in tests
    assert "-n auto" in tests  # pytest-xdist: the suite uses every core


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "test-command" in ci and "ruff check" in ci
    assert "ruff format --check" in ci and ".ci/lint-imports" in ci
    extracted = subprocess.run(
        [
            "bash",
            "-c",
            "sed -n '/<!-- test-command -->/,/<!-- \\/test-command -->/p' README.md"
            " | grep -v -e '^<!--' -e '^```'",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.strip()
    assert extracted == fenced_block("test-command").strip()


def test_plugin_example_registers_a_working_matmul(plugin_path):
    torch = pytest.importorskip("torch")
    plugin_path({"scratchlab_blocked": fenced_block("plugin-example")})
    plugins = load_plugins(["scratchlab_blocked"], builtins=())
    assert not plugins.failures, plugins.failures
    entry = plugins.registry.get("matmul", "blocked")
    a, b = torch.randn(7, 200), torch.randn(200, 3)
    for block in (64, 128, 500):
        matmul = bind(entry.component, {"block": block})
        torch.testing.assert_close(matmul.fn(a, b), a @ b, rtol=1e-4, atol=1e-5)
