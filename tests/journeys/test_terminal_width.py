"""An 80-column terminal, as a new user has it: names and numbers are never broken
across lines (issue 24 item 10), and ``runner plugins`` stays a page or two."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from scratchlab.runner.cli import cli

COLUMNS = 80


def invoke(*args: str) -> str:
    """``runner ARGS`` at :data:`COLUMNS` columns; its output."""
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(COLUMNS)})
    assert result.exit_code == 0, result.output
    return result.output


def assert_whole(text: str, names: set[str]) -> None:
    """Every line fits the terminal and every name is printed whole on some line."""
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= COLUMNS, text
    broken = sorted(n for n in names if not any(n in line for line in lines))
    assert not broken, (broken, text)


def test_plugins_keeps_names_whole_and_descriptions_to_one_line():
    payload = json.loads(invoke("plugins", "--json"))
    names = {c["name"] for rows in payload["components"].values() for c in rows}
    names |= {p["name"] for p in payload["plugins"]}
    text = invoke("plugins")
    assert_whole(text, names)
    components = sum(len(rows) for rows in payload["components"].values())
    # a line per component, plus each category's title, header, rule and gap: not 377 lines
    assert len(text.splitlines()) <= components + 4 * len(payload["components"]) + 20
    wide = invoke("plugins", "--wide")
    assert_whole(wide, names)
    for rows in payload["components"].values():  # --wide shows the version of each
        assert all(any(c["version"] in line for line in wide.splitlines()) for c in rows)


def test_dry_run_keeps_component_names_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    plan = json.loads(
        invoke("--db", url, "sweep", "--plugins", "matmul,init", "--dry-run", "--json")
    )
    names = {n for run in plan["runs"] for n in run["components"].values()}
    assert "torch-kaiming-normal" in names
    text = invoke("--db", url, "sweep", "--plugins", "matmul,init", "--dry-run")
    assert_whole(text, names)
    experiments = len({run["experiment"] for run in plan["runs"]})
    assert f"{plan['count']} runs of {experiments} experiments" in text


def command_paths(command: click.Command, path: tuple[str, ...] = ()):
    """Every command's path under ``command`` (itself first), groups' subcommands included."""
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            yield from command_paths(command.get_command(context, name), (*path, name))


def test_every_help_page_fits_the_terminal():
    """Examples in help texts are wrapped by hand (click leaves ``\\b`` blocks as written)."""
    wide = {}
    for path in command_paths(cli):
        lines = invoke(*path, "--help").splitlines()
        wide.update({" ".join(path) or "runner": line for line in lines if len(line) > COLUMNS})
    assert not wide, wide
