"""``runner plugins new NAME``: the files of a new plugin package.

The layout follows datasette's and llm's cookiecutter plugin templates: a
folder named after the plugin holding ``pyproject.toml`` (the distribution
``scratchlab-NAME`` with its ``scratchlab`` entry point and a ``test`` extra),
one package ``scratchlab_NAME`` with an example component, a test that
passes once the package is installed (through :mod:`scratchlab.testing`),
a README with the next steps, and a ``.gitignore``. Plain
:class:`string.Template` text, so nothing beyond the standard library is
needed and the templates read as the files they become.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

#: a plugin name: lower-case words joined by single hyphens, starting with a letter
NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PREFIX = "scratchlab-"


class ScaffoldError(Exception):
    """The package cannot be written (a bad name, a folder in the way)."""


@dataclass(frozen=True)
class Names:
    """Every name the scaffold derives from the one the user typed."""

    name: str  # entry-point name and the example component's name: "demo"
    distribution: str  # "scratchlab-demo"
    module: str  # "scratchlab_demo"
    description: str

    @classmethod
    def of(cls, name: str, description: str | None = None) -> Names:
        """Derive the names; :class:`ScaffoldError` for a name pip or Python would refuse."""
        short = name[len(PREFIX) :] if name.startswith(PREFIX) else name
        if not NAME.fullmatch(short):
            raise ScaffoldError(
                f"plugin name {name!r} is not valid: use lower-case letters, digits and single hyphens,"
                " starting with a letter (e.g. my-matmuls)"
            )
        if description is not None and (not description.strip() or "\n" in description):
            raise ScaffoldError("the description must be one non-empty line")
        distribution = f"{PREFIX}{short}"
        return cls(
            name=short,
            distribution=distribution,
            module=distribution.replace("-", "_"),
            description=description or f"A scratchlab plugin: the {short} matmul.",
        )


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = $description_toml
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["scratchlab"]

[project.optional-dependencies]
test = ["pytest"]

# scratchlab finds the plugin through this entry point once the package is installed
[project.entry-points.scratchlab]
$name = "$module"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

MODULE = '''\
"""$description_docstring

Registered through the ``scratchlab`` entry point in pyproject.toml. After
``pip install -e .`` the component shows in ``runner plugins`` and sweeps
like a built-in one::

    runner sweep --experiments matmul --matmul $name,torch -s matmul.shapes=64x784x50

Each component's version is this package's version plus a hash of this
module and of the modules of this package it imports: edit them and
``runner runs --stale`` lists the runs made by the old code.
"""

from __future__ import annotations

from scratchlab.plugins import Matmul, hookimpl

#: the largest problem (m*k*n multiply-adds) this strategy is fit for: the
#: experiments skip bigger shapes with this reason instead of hanging
MAX_MADDS = 5e7


def matmul_rows(a, b):
    """``a @ b`` for 2-D tensors, one output row at a time: each row of ``a``,
    broadcast against ``b``, multiplied and summed over the shared dimension."""
    import torch  # imported when a run needs it, so listing plugins stays fast

    out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype, device=a.device)
    for i in range(a.shape[0]):
        out[i] = (a[i].unsqueeze(-1) * b).sum(dim=0)
    return out


@hookimpl
def register_matmuls(register):
    """Register the $name matmul."""
    register(Matmul(
        name="$name",
        fn=matmul_rows,
        max_madds=MAX_MADDS,
        description="a @ b one row at a time, each row broadcast against b.",
    ))
'''

TEST = '''\
"""Tests for $distribution: its components through scratchlab's real engine."""

import $module
from scratchlab.plugins.manager import load_plugins
from scratchlab.testing import run_components


def test_the_plugin_is_installed():
    registered = load_plugins().registry.get("matmul", "$name")
    assert registered.distribution == "$distribution"


def test_the_matmul_is_correct_on_every_shape():
    results = run_components(
        $module, experiment="matmul", matmul="$name", settings={"matmul.shapes": "5x784x10,3x4x5"}
    )
    results.raise_for_failures()  # a failed run shows its reason
    assert results.metric("5x784x10.correct") == 1.0
    assert results.metric("3x4x5.max_abs_err") < 1e-5
'''

README = """\
# $distribution

$description

## Installation

Install this plugin in the same environment as scratchlab, with its test extra:

    pip install -e '.[test]'

(offline, `pip install --no-build-isolation -e '.[test]'` builds with the installed setuptools).

Check that scratchlab sees it, then sweep it against the built-in strategies:

    runner plugins
    runner sweep --experiments matmul --matmul $name,torch -s matmul.shapes=64x784x50
    runner runs

## Development

The plugin is `$module/__init__.py`; add components with the other
`register_*` hooks (see scratchlab's plugin guide, `docs/plugins.md`).
To run the tests (the install above brought pytest):

    pytest
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
runs.db
"""


def files(names: Names) -> dict[str, str]:
    """``relative path -> text`` of every file of the package."""
    values = {
        "name": names.name,
        "distribution": names.distribution,
        "module": names.module,
        "description": names.description,
        # a TOML basic string is a JSON string; a docstring needs its quotes escaped
        "description_toml": json.dumps(names.description),
        "description_docstring": names.description.replace("\\", "\\\\").replace('"', '\\"'),
    }
    templates = {
        "pyproject.toml": PYPROJECT,
        f"{names.module}/__init__.py": MODULE,
        f"tests/test_{names.module}.py": TEST,
        "README.md": README,
        ".gitignore": GITIGNORE,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def write_package(folder: Path, names: Names) -> list[Path]:
    """Write the package into ``folder`` (which must not exist, or be empty); return the files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(
            f"{folder} already exists and is not an empty folder; choose another name or remove it"
        )
    written = []
    for relative, text in files(names).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
