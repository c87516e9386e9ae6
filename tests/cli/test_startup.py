"""The CLI starts without torch, and the package installs under one namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli

REPO = Path(__file__).resolve().parents[2]

NO_TORCH_AFTER = """
import sys
from scratchlab.runner.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = sorted(m for m in ("torch", "streamlit", "pandas", "dask") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def heavy_modules_after(argv: list[str], cwd: Path) -> list[str]:
    """The heavy modules (torch, streamlit, pandas, dask) ``runner ARGV`` imported, run in a
    fresh interpreter in ``cwd`` (asserting it exited 0)."""
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH_AFTER.format(argv=argv)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].removeprefix("HEAVY=").split(",")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["db", "--help"], ["sweep", "--help"]])
def test_help_does_not_import_torch(argv):
    assert "torch" not in heavy_modules_after(argv, REPO)


@pytest.mark.parametrize(
    "argv",
    [
        ["plugins"],
        ["plugins", "--json"],
        ["sweep", "--plugins", "matmul,init", "--dry-run"],
        ["sweep", "--plugins", "norm,optimizer,activation,loss", "--dry-run", "--json"],
    ],
)
def test_listing_and_planning_the_built_ins_do_not_import_torch(argv, tmp_path):
    """The built-in components import torch when they first run (plugins/lazytorch.py), so
    listing them and planning a sweep over them start in a fraction of a second."""
    database = ["--db", f"sqlite:///{tmp_path}/r.db"]
    assert "torch" not in heavy_modules_after([*database, *argv], tmp_path)


def test_help_lists_commands_and_global_options():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for text in ("--db", "--plugin", "--version", "plugins", "List plugins"):
        assert text in result.output


def test_version_is_the_distribution_version():
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"scratchlab, version {version('scratchlab')}"


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


@pytest.mark.slow
def test_wheel_installs_everything_under_the_scratchlab_namespace(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("scratchlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names}
    assert top_level <= {"scratchlab", next(n.split("/")[0] for n in names if ".dist-info/" in n)}
    for module in (
        "scratchlab/plugins/hookspecs.py",
        "scratchlab/runner/cli/__init__.py",
        "scratchlab/core/records.py",
        "scratchlab/reports/__init__.py",
        "scratchlab/__init__.py",  # the notebook API, from api/
    ):
        assert module in names
    # the wheel's own files import, from a folder that is not the checkout (its
    # folder goes first on sys.path, ahead of the editable install's finder)
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import scratchlab as s, scratchlab.plugins.registry as r, "
            "scratchlab.core.records as d; print(s.__file__); print(r.__file__); print(d.__file__)",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert [Path(line) for line in probe.stdout.split()] == [
        target / "scratchlab" / "__init__.py",
        target / "scratchlab" / "plugins" / "registry.py",
        target / "scratchlab" / "core" / "records.py",
    ]


def test_runs_table_loads_neither_pandas_nor_plugins(tmp_path):
    """``runner runs`` prints its table from plain rows: pandas, torch and the plugin
    manager would cost more start-up than the query on 100,000 runs."""
    from scratchlab.core.records import PlannedRun
    from scratchlab.db import open_store

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep_id = store.create_sweep("s", [], {}, {})
        store.add_runs(
            sweep_id,
            [PlannedRun(key="a", experiment="train", components={"matmul": "torch"}, params={})],
        )
    probe = NO_TORCH_AFTER.format(argv=["--db", url, "runs", "--where", "matmul=torch"]) + (
        "print('MANAGER=' + str('scratchlab.plugins.manager' in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert "torch" in result.stdout and "pending" in result.stdout  # the table itself
    heavy, manager = result.stdout.strip().splitlines()[-2:]
    assert heavy == "HEAVY=" and manager == "MANAGER=False"
