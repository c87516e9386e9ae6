"""``runner importance``'s mistakes and its output on a real file (the main job's real
runs are in tests/journeys/test_analysis_journey.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli


def invoke(db: str, *args: str):
    return CliRunner().invoke(cli, ["--db", db, "importance", *args], env={"COLUMNS": "80"})


def test_importance_ranks_init_over_lr_and_lists_what_was_fixed(analysis_db):
    result = invoke(analysis_db, "--metric", "valid_accuracy", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [row["name"] for row in payload["importance"]] == ["init", "lr"]
    assert payload["fixed"] == {"matmul": "torch"} and payload["runs"] == 18
    text = invoke(analysis_db, "--metric", "valid_accuracy", "--sweep", "1")
    assert text.exit_code == 0 and "9 runs" in text.output.splitlines()[0]
    assert all(len(line) <= 80 for line in text.output.splitlines())


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("--metric", "nope"), 1, "has a final 'nope'"),
        (("--metric", "valid_accuracy:sideways"), 2, "expected max or min"),
        (
            ("--metric", "valid_accuracy", "--where", "lr=0.1", "--where", "init=simple"),
            1,
            "at least 4",
        ),
        (("--metric", "valid_accuracy", "--evaluator", "magic"), 2, "'magic' is not one of"),
    ],
)
def test_mistakes_are_one_line(analysis_db, args, code, message):
    result = invoke(analysis_db, *args)
    assert result.exit_code == code and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert message in result.output and len(errors) == 1
