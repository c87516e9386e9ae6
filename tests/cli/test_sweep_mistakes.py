"""A user's mistake with the lessons' components: one clear line on stderr, exit 2, nothing stored."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--experiments", "train", "-s", "train.model=rnn"],
            "train.model='rnn' is not allowed: expected one of mlp, cnn",
        ),
        (
            ["--experiments", "train", "--optimizer", "adam", "-s", "adam.mom=1.5"],
            "adam.mom=1.5 is not allowed",
        ),
        (
            ["--experiments", "train", "--optimizer", "nadam"],
            "unknown optimizer 'nadam'; valid: sgd, sgd-wd, momentum",
        ),
        (
            ["--experiments", "telemetry", "-s", "telemetry.bins=2"],
            "telemetry.bins=2 is not allowed",
        ),
        (
            ["--experiments", "train", "--schedule", "one-cycle", "-s", "one-cycle.pct=2"],
            "one-cycle.pct=2",
        ),
        (
            [
                "--experiments",
                "train",
                "--loss",
                "label-smoothing",
                "-s",
                "label-smoothing.eps=-0.1",
            ],
            "label-smoothing.eps=-0.1 is not allowed",
        ),
    ],
)
def test_bad_choice_is_one_line_and_stores_nothing(tmp_path, args, message):
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", "sweep", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not db.exists()
