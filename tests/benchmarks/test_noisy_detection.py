"""benchmarks/noisy_detection.py's verdict: each stored timing judged against the fastest of its
strategy and shape, on stated timings (nothing here depends on this machine's speed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import noisy_detection


def timing(side: str, median_us: float, quality: str, strategy: str = "torch") -> dict:
    return {
        "sweep": 1,
        "side": side,
        "strategy": strategy,
        "shape": "5x784x10",
        "median": median_us * 1e-6,
        "quality": quality,
        "reasons": ["probe slow"] if quality == "noisy" else [],
    }


def test_every_slow_timing_flagged_and_no_false_alarm_passes():
    timings = [
        timing("quiet", 10.0, "ok"),
        timing("quiet", 11.0, "ok"),
        timing("busy", 40.0, "noisy"),  # 4x the quiet value: must be noisy, and is
        timing("quiet", 100.0, "ok", strategy="einsum"),  # its own strategy's quiet value
    ]
    rows, tally = noisy_detection.judge(timings)
    assert (tally.slow, tally.caught, tally.right, tally.false_alarms) == (1, 1, 3, 0)
    assert [row[4] for row in rows] == ["1.0x", "1.1x", "4.0x", "1.0x"]
    assert all(t.passed for t in noisy_detection.targets(tally, len(timings)))


def test_a_missed_slow_timing_and_a_false_alarm_each_fail_their_target():
    timings = [
        timing("quiet", 10.0, "ok"),
        timing("quiet", 12.0, "noisy"),  # right (1.2x) but flagged: a false alarm
        timing("busy", 50.0, "ok"),  # 5x and not flagged: missed
    ]
    _, tally = noisy_detection.judge(timings)
    caught, false_alarms = noisy_detection.targets(tally, len(timings))
    assert not caught.passed and caught.measured == 0.0
    assert not false_alarms.passed and false_alarms.measured == 0.5
    assert "0 of 1 slow timings flagged (3 timings in all)" in caught.note


def test_a_slow_quiet_side_timing_counts_as_slow_not_as_a_false_alarm():
    # another user's work can slow the quiet side: flagging that is right
    _, tally = noisy_detection.judge([timing("quiet", 10.0, "ok"), timing("quiet", 35.0, "noisy")])
    assert (tally.slow, tally.caught, tally.right, tally.false_alarms) == (1, 1, 1, 0)
