"""A component's version covers the definitions its code runs, in its module and its package."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from scratchlab.plugins import Experiment
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.versions import covered, is_host, is_plugin_code, source_hash

PACKAGE = {
    "hashpkg/__init__.py": '"""A plugin package."""\n',
    "hashpkg/plugin.py": '''
        """The plugin module: an experiment that imports a helper lazily, a matmul that uses another."""

        from scratchlab.plugins import Experiment, Matmul, hookimpl

        from hashpkg.kernels import scaled


        def run(ctx):
            from hashpkg import models

            ctx.metric("width", models.WIDTH)


        def matmul(a, b):
            return scaled(a, b)


        EXPERIMENT = Experiment(name="hash-exp", run=run, description="reads models.WIDTH")
        MATMUL = Matmul(name="hash-mm", fn=matmul, description="kernels.scaled")
    ''',
    "hashpkg/models.py": "WIDTH = 3\n",
    "hashpkg/kernels.py": """
        from .util import ONE


        def scaled(a, b):
            return ONE * (a @ b)
    """,
    "hashpkg/util.py": "ONE = 1\n",
    "hashpkg/unrelated.py": "NOTHING = None\n",
}


@pytest.fixture
def hashpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files):
    root = files(tmp_path / "site", PACKAGE)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    module = importlib.import_module("hashpkg.plugin")
    yield root / "hashpkg", module
    for name in [n for n in sys.modules if n == "hashpkg" or n.startswith("hashpkg.")]:
        del sys.modules[name]


def edit(path: Path, old: str, new: str) -> None:
    """Change the code of a file (its size too, so the per-process cache sees it at once)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def hashes(module) -> tuple[str, str]:
    return source_hash(module.EXPERIMENT), source_hash(module.MATMUL)


def test_a_version_covers_the_definitions_its_code_reads_at_the_top_and_inside_functions(hashpkg):
    _, module = hashpkg
    assert covered(module.EXPERIMENT) == ["hashpkg.models.WIDTH", "hashpkg.plugin.run"]
    assert covered(module.MATMUL) == [
        "hashpkg.kernels.scaled",
        "hashpkg.plugin.matmul",
        "hashpkg.util.ONE",
    ]


@pytest.mark.parametrize(
    ("helper", "old", "new", "changed"),
    [
        ("models.py", "WIDTH = 3", "WIDTH = 4", (True, False)),
        ("kernels.py", "ONE * (a @ b)", "ONE * (b.T @ a.T).T", (False, True)),
        ("util.py", "ONE = 1", "ONE = 2", (False, True)),
        ("plugin.py", 'ctx.metric("width"', 'ctx.metric("w"', (True, False)),
        ("plugin.py", "return scaled(a, b)", "return scaled(a, b) + 0", (False, True)),
    ],
)
def test_editing_code_a_component_runs_changes_its_version_and_only_its(
    hashpkg, helper, old, new, changed
):
    folder, module = hashpkg
    before = hashes(module)
    edit(folder / helper, old, new)
    after = hashes(module)
    assert (after[0] != before[0], after[1] != before[1]) == changed


@pytest.mark.parametrize("helper", ["models.py", "kernels.py", "util.py", "plugin.py"])
def test_a_comment_a_docstring_or_a_new_function_changes_no_version(hashpkg, helper):
    folder, module = hashpkg
    before = hashes(module)
    path = folder / helper
    path.write_text(
        '"""A docstring added."""\n'
        + path.read_text()
        + "\n\n# a comment\n\n\ndef unused():\n    return 1\n"
    )
    assert hashes(module) == before


def test_editing_a_module_nobody_imports_changes_nothing(hashpkg):
    folder, module = hashpkg
    before = hashes(module)
    edit(folder / "unrelated.py", "NOTHING = None", "NOTHING = 1")
    assert hashes(module) == before


def test_two_components_of_one_module_have_different_hashes(hashpkg):
    _, module = hashpkg
    assert source_hash(module.EXPERIMENT) != source_hash(module.MATMUL)


FACTORY = {
    "factpkg/__init__.py": "",
    "factpkg/plugin.py": """
        from scratchlab.plugins import Experiment


        def step_a(ctx):
            ctx.metric("a", 1.0)


        def step_b(ctx):
            ctx.metric("b", 2.0)


        def recipe(steps):
            def run(ctx):
                for step in steps:
                    step(ctx)

            return run


        A = Experiment(name="a", run=recipe([step_a]), description="")
        B = Experiment(name="b", run=recipe([step_b]), description="")
    """,
}


def test_a_function_made_by_a_factory_covers_what_its_closure_holds(tmp_path, monkeypatch, files):
    root = files(tmp_path / "site", FACTORY)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    try:
        module = importlib.import_module("factpkg.plugin")
        assert covered(module.A) == ["factpkg.plugin.recipe", "factpkg.plugin.step_a"]
        before = source_hash(module.A), source_hash(module.B)
        edit(root / "factpkg" / "plugin.py", '"b", 2.0', '"b", 3.0')
        after = source_hash(module.A), source_hash(module.B)
        assert after[0] == before[0] and after[1] != before[1]
    finally:
        for name in [n for n in sys.modules if n.partition(".")[0] == "factpkg"]:
            del sys.modules[name]


def test_builtin_train_covers_its_model_builders_not_the_plugin_api():
    registered = load_plugins().registry.get("experiment", "train")
    covered_now = covered(registered.component)
    # models.py builds the model, and the strategy's autograd matmul comes from plugins/matmul.py
    assert {
        "scratchlab.plugins.experiments.models.mlp",
        "scratchlab.plugins.matmul.autograd_matmul",
    } <= set(covered_now)
    # the strategies themselves are the matmul components' code, not the experiment's
    assert "scratchlab.plugins.matmul.matmul_python" not in covered_now
    assert not [name for name in covered_now if is_host(name.rpartition(".")[0])]
    assert registered.version.endswith("+" + source_hash(registered.component))


def test_another_librarys_callable_is_named_not_traversed():
    import torch

    tanh = Experiment(name="x", run=torch.tanh, description="")
    relu = Experiment(name="x", run=torch.nn.functional.relu, description="")
    assert source_hash(tanh) != source_hash(relu)
    assert not is_plugin_code("torch.nn.functional") and not is_plugin_code("json")
    assert is_plugin_code("scratchlab.plugins.matmul")
