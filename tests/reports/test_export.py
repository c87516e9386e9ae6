"""Serialising tables (downloads, ``runner export``) and the terminal tables."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest
from rich.console import Console

from scratchlab.reports import terminal
from scratchlab.reports.export import records, table_bytes


@pytest.fixture
def frame():
    """Mixed types: ints, NaN and infinity, a missing param, a list param, text with markup."""
    return pd.DataFrame(
        {
            "run_id": [1, 2],
            "value": [math.nan, math.inf],
            "lr": [0.1, None],
            "shapes": [[5, 784, 10], "64x784x50"],
            "reason": ["[bold]x[/bold] <b>y</b>", None],
            "started_at": pd.to_datetime(["2024-05-01T12:00:00Z", None], utc=True),
        }
    )


def test_json_writes_nan_and_infinity_as_null_and_says_which(frame):
    rows = json.loads(table_bytes(frame, "json", nan_is_missing=["lr"]))
    assert rows[0]["value"] is None and rows[1]["value"] is None
    assert rows[0]["nonfinite"] == {"value": "NaN"} and rows[1]["nonfinite"] == {"value": "inf"}
    assert rows[1]["lr"] is None and rows[1]["started_at"] is None
    # a text column's gap (a run without a reason) is missing, not a NaN value
    assert rows[1]["reason"] is None
    assert rows[0]["started_at"] == "2024-05-01T12:00:00+00:00" and rows[0]["shapes"] == [
        5,
        784,
        10,
    ]
    assert records(frame)[0]["reason"] == "[bold]x[/bold] <b>y</b>"
    # without the hint a float NaN is a value
    assert records(frame)[1]["lr"] is None and records(frame)[1]["nonfinite"] == {
        "lr": "NaN",
        "value": "inf",
    }


def test_csv_neutralises_formulas_but_not_numbers():
    frame = pd.DataFrame(
        {
            "name": [
                '=HYPERLINK("http://x")',
                "+1+2",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\rx",
                "plain",
                "-0.5",
            ],
            "value": [-1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    text = table_bytes(frame, "csv").decode()
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert back["name"].tolist()[:4] == ['\'=HYPERLINK("http://x")', "'+1+2", "'-2+3", "'@SUM(A1)"]
    assert back["name"].tolist()[-2:] == ["plain", "-0.5"]  # text that is a number is left as it is
    assert (
        ",-1.0" in text and ",-2.0" in text and "'-1" not in text
    )  # negative numbers stay numbers
    assert "'\tx" in text and "'\rx" in text
    raw = pd.read_csv(io.StringIO(table_bytes(frame, "csv", formulas=True).decode()))
    assert raw["name"].iloc[0] == '=HYPERLINK("http://x")'


def test_csv_and_parquet_round_trip(frame):
    csv = pd.read_csv(io.BytesIO(table_bytes(frame, "csv")))
    assert list(csv.columns) == list(frame.columns) and csv["run_id"].tolist() == [1, 2]
    parquet = pd.read_parquet(io.BytesIO(table_bytes(frame, "parquet")))
    assert parquet["shapes"].tolist() == [
        "[5, 784, 10]",
        "64x784x50",
    ]  # mixed objects stored as text
    assert math.isinf(parquet["value"].iloc[1]) and pd.isna(parquet["reason"].iloc[1])
    with pytest.raises(ValueError, match="unknown format"):
        table_bytes(frame, "xlsx")


def render(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_database_text_is_never_read_as_markup(frame):
    text = render(terminal.frame_table(frame))
    assert "[bold]x[/bold] <b>y</b>" in text
