"""From real runs to an answer: the README's main job's train runs (every init, two
matmul strategies, on the embedded mnist-5k digits), then ``runner importance`` and the
Analysis page on them. Every matmul computes the same product, so the accuracy depends
on the init alone: importance must rank ``init`` first and ``matmul`` near zero."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from scratchlab.runner.cli import cli

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def main_job_db(tmp_path_factory) -> str:
    """The main job's ``train`` runs, reduced to two of its matmul strategies (the others
    give the same accuracy, slower): 8 inits x 2 matmuls, real training."""
    url = f"sqlite:///{tmp_path_factory.mktemp('job') / 'runs.db'}"
    args = ["--db", url, "sweep", "--plugins", "matmul,init", "--experiments", "train"]
    result = CliRunner().invoke(cli, [*args, "--matmul", "torch,einsum", "--quiet"])
    assert result.exit_code == 0, result.output
    return url


def test_importance_ranks_init_first_and_matmul_near_zero(main_job_db):
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            main_job_db,
            "importance",
            "--metric",
            "valid_accuracy",
            "--experiment",
            "train",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    ranked = {row["name"]: row["importance"] for row in payload["importance"]}
    assert payload["runs"] == 16 and payload["importance"][0]["name"] == "init"
    assert ranked["matmul"] < 0.05 and ranked["init"] > 0.9
    assert payload["fixed"]["dataset"] == "mnist-5k"


def test_importance_prints_a_bar_per_line_within_80_columns(main_job_db):
    result = CliRunner().invoke(
        cli,
        ["--db", main_job_db, "importance", "--metric", "valid_accuracy", "--experiment", "train"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[1].startswith("init") and "█" in lines[1] and lines[1].endswith("1.000")
    assert lines[2].startswith("matmul") and "█" not in lines[2]


def test_the_analysis_page_shows_the_real_runs(main_job_db, monkeypatch):
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    monkeypatch.setenv("SCRATCHLAB_DB", main_job_db)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("app_pages/analysis.py")
    at.run()
    assert not at.exception and not at.error
    titles = [str(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    assert any("importance for valid_accuracy" in t and "16 runs" in t for t in titles), titles
    assert any("across the chosen dimensions" in t for t in titles)
    assert at.multiselect(key="analysis.dims").value == ["init", "matmul"]
