"""The shared benchmark harness: alternation, targets and the JSON that run_all reads."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _common


def test_rounds_rotate_so_every_case_runs_first_in_turn():
    calls: list[str] = []

    def case(name):
        def measure():
            calls.append(name)
            return float(len(calls))

        return measure

    samples = _common.alternate({n: case(n) for n in "abc"}, rounds=3, warmup=1, progress=False)
    assert calls == list("abcabcbcacab")  # warm-up, then rotated rounds
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3, "c": 3}
    assert samples["a"] == [4.0, 9.0, 11.0]  # warm-up measurements are thrown away


@pytest.mark.parametrize(
    ("op", "measured", "limit", "passed"),
    [
        ("<=", 1.09, 1.10, True),
        ("<=", 1.11, 1.10, False),
        (">=", 0.5, 0.5, True),
        ("within", 0.91, 0.10, True),
        ("within", 1.11, 0.10, False),
        ("<=", math.nan, 1.0, False),
    ],
)
def test_targets_pass_only_when_the_measurement_meets_them(op, measured, limit, passed):
    assert _common.Target("t", measured=measured, limit=limit, op=op).passed is passed


def test_an_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="op must be one of"):
        _common.Target("t", measured=1.0, limit=1.0, op="<")


def test_finish_writes_the_json_run_all_reads_and_returns_the_exit_code(tmp_path, capsys):
    out = tmp_path / "result.json"
    targets = [_common.Target("fast", 0.5, 1.0), _common.Target("slow", 2.0, 1.0)]
    assert _common.finish("demo", targets, json_out=out, rounds=3) == 1
    payload = json.loads(out.read_text())
    assert payload["script"] == "demo" and payload["rounds"] == 3
    assert [(t["name"], t["passed"]) for t in payload["targets"]] == [
        ("fast", True),
        ("slow", False),
    ]
    printed = capsys.readouterr().out
    assert "demo: targets" in printed and "FAIL" in printed
    assert _common.finish("demo", targets[:1], json_out=None) == 0
