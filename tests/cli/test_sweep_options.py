"""``runner sweep``'s options, declared once (``runner/cli/sweep_options.py``): each is
listed by --help, and each that shapes a plan is refused beside --resume by the flag
the user typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli
from scratchlab.runner.cli.sweep_options import OPTION_CATEGORIES, PLAN_OPTIONS, option_flag

#: a value each plan option accepts, so that only the combination is wrong
VALUES = {
    "categories": "matmul",
    "experiments": "matmul",
    "settings": "matmul.shapes=4x5x6",
    "devices": "cpu",
    "dtype": "float64",
    "repeat": "2",
    "seed": "3",
    "threads": "1",
    "deterministic": None,
    "max_runs": "10",
    "search": "tpe",
    "trials": "2",
    "objective": "loss",
    "prune": "median",
    **{f"select_{c}": "x" for c in OPTION_CATEGORIES},
}


def test_help_lists_every_option_and_one_per_category_at_80_columns():
    result = CliRunner().invoke(cli, ["sweep", "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    options = result.output.split("Options:")[1]
    assert all(len(line) <= 80 for line in options.splitlines())  # wrapped to the terminal
    for name in PLAN_OPTIONS:
        assert option_flag(name) in result.output, name
    # a category's option comes after --plugins, in the categories' order
    at = [result.output.index(f"  --{c} NAMES") for c in OPTION_CATEGORIES]
    assert result.output.index("--plugins") < at[0] and at == sorted(at)


@pytest.mark.parametrize("name", PLAN_OPTIONS)
def test_every_plan_option_is_refused_with_resume_by_its_flag(name, tmp_path: Path):
    config = tmp_path / "sweep.toml"
    config.write_text('plugins = ["matmul"]\n')
    data = tmp_path / "data"
    data.mkdir()
    value = {"config": str(config), "data_path": str(data)}.get(name, VALUES.get(name))
    flag = option_flag(name)
    args = [flag] if value is None else [flag, value]
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "sweep", "--resume", "1", *args])
    assert result.exit_code == 2, result.output
    assert (
        f"Error: --resume replays a stored sweep's plan; it cannot be combined with {flag}\n"
        in result.stderr
    )
    assert not db.exists()
