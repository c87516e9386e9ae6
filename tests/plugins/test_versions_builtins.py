"""Staleness of the built-in components: an edit marks the components whose code changed.

Editing a copy of scratchlab's own source the way a contributor edits a
checkout: a comment in ``plugins/matmul.py`` changes no version (it used to
change all of them, so ``runner runs --stale`` listed 69 of 69 runs of the
main job); an edit to one strategy changes that strategy only; an edit to the
autograd wrapper the training loop runs changes the experiments that run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import scratchlab
import scratchlab.plugins

SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys

    import scratchlab.plugins
    from scratchlab.plugins.manager import load_plugins

    assert scratchlab.plugins.__file__.startswith(sys.argv[1]), scratchlab.plugins.__file__
    source = pathlib.Path(scratchlab.plugins.__file__).parent / "matmul.py"


    def versions():
        registry = load_plugins().registry
        return {
            f"{c.name} {n}": registry.get(c.name, n).version
            for c in registry.categories()
            for n in registry.names(c.name)
        }


    def edit(old, new):
        text = source.read_text()
        assert old in text, old
        source.write_text(text.replace(old, new))
        return versions()


    found = {"before": versions()}
    found["comment"] = edit("\\n\\n@hookimpl", "\\n\\n# one comment line\\n\\n@hookimpl")
    found["einsum"] = edit('torch.einsum("ik,kj->ij", a, b)', 'torch.einsum("ij,jk->ik", a, b) + 0')
    found["backward"] = edit("grad = grad.contiguous()", "grad = grad.contiguous().clone()")
    print(json.dumps(found))
    """
)


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name, version in after.items() if before[name] != version}


@pytest.mark.slow
def test_editing_the_builtin_matmul_module_marks_only_the_components_that_run_the_edit(
    tmp_path: Path,
):
    root = tmp_path / "src"
    shutil.copytree(Path(scratchlab.__file__).parent, root / "scratchlab")
    shutil.copytree(Path(scratchlab.plugins.__file__).parent, root / "scratchlab" / "plugins")
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    before = found["before"]
    assert len(before) > 40
    assert changed(before, found["comment"]) == set()
    assert changed(found["comment"], found["einsum"]) == {"matmul einsum"}
    assert changed(found["einsum"], found["backward"]) == {
        "experiment train",
        "experiment telemetry",
    }
