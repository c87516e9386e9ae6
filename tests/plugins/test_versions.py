"""A component's version covers its plugin module and the modules of its package it imports."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from scratchlab.plugins import Experiment
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.versions import imported_modules, is_plugin_code, source_hash

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


def edit(path: Path) -> None:
    """Change a file (its size too, so the per-process cache sees it at once)."""
    path.write_text(path.read_text() + "# edited\n")


def test_closure_follows_imports_of_the_package_at_top_and_inside_functions(hashpkg):
    _, module = hashpkg
    assert imported_modules(module.__name__) == [
        "hashpkg.kernels",
        "hashpkg.models",
        "hashpkg.plugin",
        "hashpkg.util",
    ]


@pytest.mark.parametrize("helper", ["models.py", "kernels.py", "util.py", "plugin.py"])
def test_editing_a_module_the_plugin_imports_changes_the_version(hashpkg, helper):
    folder, module = hashpkg
    before = source_hash(module.EXPERIMENT), source_hash(module.MATMUL)
    edit(folder / helper)
    after = source_hash(module.EXPERIMENT), source_hash(module.MATMUL)
    assert after[0] != before[0] and after[1] != before[1]


def test_editing_a_module_nobody_imports_changes_nothing(hashpkg):
    folder, module = hashpkg
    before = source_hash(module.EXPERIMENT), source_hash(module.MATMUL)
    edit(folder / "unrelated.py")
    assert (source_hash(module.EXPERIMENT), source_hash(module.MATMUL)) == before


def test_two_components_of_one_module_have_different_hashes(hashpkg):
    _, module = hashpkg
    assert source_hash(module.EXPERIMENT) != source_hash(module.MATMUL)


def test_builtin_train_covers_its_model_builders_not_the_plugin_api():
    covered = imported_modules("scratchlab.plugins.experiments.train")
    # models.py builds the model, and the strategy's autograd matmul comes from plugins/matmul.py
    assert {"scratchlab.plugins.experiments.models", "scratchlab.plugins.matmul"} <= set(covered)
    # another experiment of the same package is not imported by train
    assert "scratchlab.plugins.experiments.matmul" not in covered
    assert not {
        "scratchlab.plugins",
        "scratchlab.plugins.types",
        "scratchlab.plugins.hookspecs",
    } & set(covered)
    registered = load_plugins().registry.get("experiment", "train")
    assert registered.version.endswith("+" + source_hash(registered.component))


def test_another_librarys_callable_is_named_not_traversed():
    import torch

    tanh = Experiment(name="x", run=torch.tanh, description="")
    relu = Experiment(name="x", run=torch.nn.functional.relu, description="")
    assert source_hash(tanh) != source_hash(relu)
    assert not is_plugin_code("torch.nn.functional") and not is_plugin_code("json")
    assert is_plugin_code("scratchlab.plugins.matmul")
