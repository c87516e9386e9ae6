"""Fixtures for plugin-authoring tests: a plugin package installed with pip, as an author would.

The tests run on a machine shared with other test runs, so a package is not
installed into the interpreter everyone uses: :class:`PluginEnv` makes a
virtual environment that sees this environment's packages (a ``.pth`` file
adds this interpreter's site directories, so scratchlab and torch are there
whether this is a virtual environment or not) and installs into it with the
real ``pip install -e`` (no build isolation: no network).
The ``runner`` command is run in that environment as a subprocess, so plugins
are found through their ``scratchlab`` entry point, as after a real install.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

#: a ``runner`` subprocess imports torch; the machine may be busy
CALL_TIMEOUT = 600


class PluginEnv:
    """A virtual environment for one test, with pip and the ``runner`` CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        venv.EnvBuilder(with_pip=False).create(root)
        self.python = str(root / ("Scripts" if os.name == "nt" else "bin") / "python")
        own = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        parents = [*site.getsitepackages(), site.getusersitepackages()]
        # addsitedir also runs those directories' .pth files (editable installs live there)
        line = "import site; " + "; ".join(
            f"site.addsitedir({p!r})" for p in parents if os.path.isdir(p)
        )
        Path(own, "_parent_environment.pth").write_text(line + "\n")

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        """Run this interpreter's pip against the environment (``pip --python``)."""
        command = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            self.python,
            "--disable-pip-version-check",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=CALL_TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def install_editable(self, package: Path) -> None:
        """``pip install -e PACKAGE`` (no build isolation, no dependencies: offline)."""
        self.pip("install", "--no-build-isolation", "--no-deps", "-e", str(package))

    def uninstall(self, distribution: str) -> None:
        """``pip uninstall -y DISTRIBUTION``."""
        self.pip("uninstall", "-y", distribution)

    def run(
        self, *argv: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """``runner ARGV...`` in this environment."""
        code = "import sys; from scratchlab.runner.cli import main; sys.exit(main())"
        env = {**os.environ, "COLUMNS": "250"}
        for name in ("SCRATCHLAB_DB", "SCRATCHLAB_DISABLE_PLUGINS", "SCRATCHLAB_STRICT_PLUGINS"):
            env.pop(name, None)  # the caller's shell must not change what these tests see
        done = subprocess.run(
            [self.python, "-c", code, *argv],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=CALL_TIMEOUT,
        )
        if check:
            assert done.returncode == 0, f"runner {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done

    def run_json(self, *argv: str) -> dict:
        """``runner ARGV... --json``, parsed."""
        return json.loads(self.run(*argv, "--json").stdout)

    def python_run(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``python ARGV...`` in this environment."""
        return subprocess.run(
            [self.python, *argv], capture_output=True, text=True, cwd=cwd, timeout=CALL_TIMEOUT
        )


@pytest.fixture
def plugin_env(tmp_path: Path) -> PluginEnv:
    """A fresh virtual environment that sees this one's packages."""
    return PluginEnv(tmp_path / "venv")


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text dedented) and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
def files():
    """:func:`write_files`, for tests (conftest modules are not importable by name)."""
    return write_files
