"""The holdout case of staleness: a plugin package, pip-installed editable, edited, then uninstalled.

Its runs show in ``runner runs --stale`` after an edit to its experiment's code
(a helper module the experiment imports inside a function), not after an edit
to a module nothing imports; after ``pip uninstall`` every one of its runs
shows as ``not installed``.
"""

from __future__ import annotations

import re

import pytest

PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "scratchlab-holdout"
        version = "0.3.0"
        dependencies = ["scratchlab"]

        [project.entry-points.scratchlab]
        holdout = "scratchlab_holdout.plugin"
    """,
    "scratchlab_holdout/__init__.py": '"""A plugin package written as an author would."""\n',
    "scratchlab_holdout/plugin.py": '''
        """Registers one matmul and one experiment that uses the matmul category."""

        from scratchlab.plugins import Experiment, Matmul, hookimpl
        from scratchlab_holdout.kernels import plain


        def run(ctx):
            import torch

            from scratchlab_holdout import helpers

            a = torch.ones(helpers.SIZE, helpers.SIZE, dtype=ctx.dtype)
            ctx.metric("total", float(ctx.matmul.fn(a, a).sum()))


        @hookimpl
        def register_matmuls(register):
            register(Matmul(name="holdout-mm", fn=plain, description="a @ b, from the holdout package"))


        @hookimpl
        def register_experiments(register):
            register(Experiment(name="holdout", run=run, uses=("matmul",), description="sums a product"))
    ''',
    "scratchlab_holdout/kernels.py": """
        def plain(a, b):
            return a @ b
    """,
    "scratchlab_holdout/helpers.py": "SIZE = 4\n",
    "scratchlab_holdout/unrelated.py": "UNUSED = True\n",
}

VERSION = r"0\.3\.0\+[0-9a-f]{8}"


def stale_notes(plugin_env, db: str) -> dict[int, str]:
    payload = plugin_env.run_json("--db", db, "runs", "--stale")
    assert payload["total"] == len(payload["runs"])
    return {run["run_id"]: run["stale"] for run in payload["runs"]}


# pip and four to six runner subprocesses, each importing torch: minutes on a busy machine
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_edit_and_uninstall_of_an_editable_plugin_package_mark_its_runs_stale(
    tmp_path, plugin_env, files
):
    package = files(tmp_path / "holdout", PACKAGE)
    plugin_env.install_editable(package)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    plugin_env.run(
        "--db", db, "sweep", "--experiments", "holdout", "--matmul", "holdout-mm,torch", "-q"
    )
    runs = plugin_env.run_json("--db", db, "runs")["runs"]
    assert sorted((r["matmul"], r["status"]) for r in runs) == [
        ("holdout-mm", "done"),
        ("torch", "done"),
    ]
    ids = {r["matmul"]: r["run_id"] for r in runs}

    # a module nothing imports is not part of any version
    (package / "scratchlab_holdout" / "unrelated.py").write_text("UNUSED = False\n")
    assert stale_notes(plugin_env, db) == {}

    # the experiment imports helpers inside its run function: both runs are stale, and say why
    (package / "scratchlab_holdout" / "helpers.py").write_text("SIZE = 5\n")
    notes = stale_notes(plugin_env, db)
    assert set(notes) == set(ids.values())
    for note in notes.values():
        assert re.fullmatch(rf"experiment holdout {VERSION} -> {VERSION}", note), note

    plugin_env.uninstall("scratchlab-holdout")
    notes = stale_notes(plugin_env, db)
    assert re.fullmatch(
        rf"experiment holdout {VERSION} -> not installed; matmul holdout-mm {VERSION} -> not installed",
        notes[ids["holdout-mm"]],
    ), notes
    assert re.fullmatch(rf"experiment holdout {VERSION} -> not installed", notes[ids["torch"]]), (
        notes
    )
