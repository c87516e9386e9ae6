"""Compare, Sweeps and Runs page logic."""

from __future__ import annotations

import pandas as pd
import pytest

from scratchlab.reports.views import compare, runs, sweeps
from scratchlab.reports.views.common import command_line, error_summary, format_duration


def test_only_differing_settings_are_listed(training_frames):
    _, _, frame = training_frames
    chosen = frame[frame["run_id"].isin([1, 2, 4])]
    settings = compare.differing_settings(chosen)
    assert settings.to_dict("records") == [
        {"setting": "seed", "run 1": "0", "run 2": "1", "run 4": "0"},
        {"setting": "repeat", "run 1": "0", "run 2": "1", "run 4": "0"},
        {"setting": "lr", "run 1": "0.1", "run 2": "0.1", "run 4": "0.5"},
    ]
    assert compare.differing_settings(frame[frame["run_id"] == 1]).empty


def test_a_param_only_one_run_has_shows_as_missing(training_frames):
    _, _, frame = training_frames
    frame = frame.copy()
    frame["slope"] = [0.01] + [None] * 5
    settings = compare.differing_settings(frame[frame["run_id"].isin([1, 4])]).set_index("setting")
    assert settings.loc["slope"].tolist() == ["0.01", compare.MISSING]


def test_metrics_side_by_side_in_the_chosen_order(training_frames):
    _, final, _ = training_frames
    table = compare.metrics_side_by_side(final[final["run_id"].isin([1, 4])], [4, 1])
    assert list(table.columns) == ["metric", "run 4", "run 1"]
    assert table.set_index("metric").loc["accuracy"].tolist() == pytest.approx([0.95, 0.9])


def test_sweeps_table_and_counts():
    frame = pd.DataFrame(
        [
            {
                "sweep_id": 1,
                "name": "a",
                "status": "done",
                "started_at": None,
                "finished_at": None,
                "duration_s": 3725.2,
                "argv": "runner sweep --plugins matmul",
                "n_runs": 3,
                "pending": 0,
                "running": 0,
                "done": 2,
                "failed": 1,
                "skipped": 0,
                "timeout": 0,
                "interrupted": 0,
            },
            {
                "sweep_id": 2,
                "name": "b",
                "status": "running",
                "started_at": None,
                "finished_at": None,
                "duration_s": None,
                "argv": '["runner", "sweep", "-s", "matmul.shapes=5x784x10"]',
                "n_runs": 1,
                "pending": 1,
                "running": 0,
                "done": 0,
                "failed": 0,
                "skipped": 0,
                "timeout": 0,
                "interrupted": 0,
            },
        ]
    )
    table = sweeps.sweeps_table(frame)
    assert list(table["sweep_id"]) == [2, 1]  # newest first
    assert {"pending", "done", "failed"} <= set(table.columns) and "timeout" not in table.columns
    assert table.loc[table["sweep_id"] == 1, "duration"].item() == "1h 02m 05s"
    assert (
        table.loc[table["sweep_id"] == 2, "command"].item()
        == "runner sweep -s matmul.shapes=5x784x10"
    )
    counts = sweeps.status_counts(frame.iloc[0].to_dict())
    assert dict(zip(counts["status"], counts["runs"]))["failed"] == 1
    env = sweeps.environment_table(
        {"torch": "2.3", "packages": {"numpy": "1.26"}, "devices": ["cpu", "cuda:0"]}
    )
    assert env.to_dict("records") == [
        {"key": "torch", "value": "2.3"},
        {"key": "packages.numpy", "value": "1.26"},
        {"key": "devices", "value": '["cpu", "cuda:0"]'},
    ]


def test_paging_math():
    assert runs.page_count(0, 50) == 1 and runs.page_count(101, 50) == 3
    assert runs.page_offset(3, 101, 50) == 100
    assert runs.page_offset(9, 101, 50) == 100  # past the end: the last page
    assert runs.page_offset(0, 101, 50) == 0


def test_runs_display_shows_the_telling_line_of_an_error(training_frames):
    _, _, frame = training_frames
    frame = frame.copy()
    frame["reason"] = ["Traceback (most recent call last):\n  File x\nValueError: boom"] + [
        None
    ] * 5
    frame["shapes"] = ["5x784x10"] + [float("nan")] * 5
    shown = runs.runs_display(frame)
    assert shown["error"].tolist()[:2] == ["ValueError: boom", ""]
    assert "reason" not in shown.columns and shown["shapes"].tolist()[1] is None


def test_small_formatters():
    assert (
        format_duration(2.5) == "2.50 s"
        and format_duration(None) == ""
        and format_duration(75) == "1m 15s"
    )
    assert command_line(["runner", "sweep", "-s", "a b"]) == "runner sweep -s 'a b'"
    assert error_summary("python: too big\nmore") == "python: too big" and error_summary(None) == ""
