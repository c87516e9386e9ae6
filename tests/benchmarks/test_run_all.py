"""benchmarks/run_all.py: which scripts it runs, and how it turns their output into verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import run_all


def test_only_selects_scripts_in_the_order_given_and_refuses_an_unknown_one(capsys):
    args, selected = run_all.parse_args(["--only", "scale, cli_startup", "--rounds", "1"])
    assert selected == ["scale", "cli_startup"] and args.rounds == 1
    assert run_all.parse_args([])[1] == [name for name, _ in run_all.SCRIPTS]
    with pytest.raises(SystemExit) as stopped:
        run_all.parse_args(["--only", "scale,nope"])
    assert stopped.value.code == 2
    assert "unknown script(s) nope" in capsys.readouterr().err


def test_a_fail_line_in_a_scripts_own_table_fails_it_even_with_exit_code_0():
    passed = run_all.Outcome("a", "ran", 1.0, 0, verbatim=["speed-up 1.9x  PASS"])
    failed = run_all.Outcome("b", "ran", 1.0, 0, verbatim=["speed-up 0.9x  FAIL"])
    timed_out = run_all.Outcome("c", "timeout", 300.0)
    assert passed.ok and not failed.ok and not timed_out.ok
    rows = run_all.summary_rows([passed, failed, timed_out])
    assert rows[0] == ("a", "speed-up 1.9x  PASS", "", "", "(its output)")
    assert rows[2] == ("c", "stopped after 300 s", "", "", "TIMEOUT")


def test_json_targets_decide_and_are_shown_with_their_verdict():
    target = {"name": "ratio", "measured": 1.3, "limit": 1.1, "op": "<=", "unit": "x"}
    outcome = run_all.Outcome("t", "ran", 2.0, 1, targets=[{**target, "passed": False}])
    assert not outcome.ok
    assert run_all.summary_rows([outcome]) == [("t", "ratio", "1.300x", "<= 1.100x", "FAIL")]


def test_the_last_block_is_a_scripts_final_table():
    lines = ["progress", "", "table", "row 1", "row 2", ""]
    assert run_all.last_block(lines) == ["table", "row 1", "row 2"]
