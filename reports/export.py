"""Serialise result tables as CSV, Parquet or JSON: one function for the app's
download buttons and ``runner export``."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from typing import Any

#: format name -> (file suffix, MIME type)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": (".csv", "text/csv"),
    "parquet": (".parquet", "application/vnd.apache.parquet"),
    "json": (".json", "application/json"),
}


def json_value(value: Any) -> Any:
    """A JSON-safe value: NaN and infinities as strings (JSON has no such numbers),
    timestamps as ISO text, numpy scalars as Python ones."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def records(frame, nan_is_missing: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-safe dicts (missing values as None, NaN kept as "NaN").

    Missing (``None``/``pd.NA``/``NaT``) and not-a-number differ: a loss that
    diverged is NaN and stays visible. In the columns ``nan_is_missing`` (params:
    a float column marks a run without that param with NaN) NaN is None.
    """
    import pandas as pd

    rows = []
    columns = list(frame.columns)
    missing_nan = set(nan_is_missing)
    for values in frame.itertuples(index=False, name=None):
        row = {}
        for column, value in zip(columns, values):
            if value is pd.NA or value is pd.NaT or value is None or (
                column in missing_nan and isinstance(value, float) and math.isnan(value)
            ):
                row[column] = None
            else:
                row[column] = json_value(value)
        rows.append(row)
    return rows


def to_json_text(payload: Any) -> str:
    """Indented JSON; anything JSON does not know becomes its string form."""
    return json.dumps(payload, indent=2, default=str, allow_nan=False)


def _text_or_none(value: Any) -> str | None:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def table_bytes(frame, fmt: str, nan_is_missing: Iterable[str] = ()) -> bytes:
    """``frame`` serialised as ``fmt`` (``csv``, ``parquet`` or ``json``, a list of row
    objects; ``nan_is_missing`` as in :func:`records`).

    Raises ``ValueError`` for any other format.
    """
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "parquet":
        buffer = io.BytesIO()
        # object columns mixing numbers and text (params) cannot be typed by Arrow: store text
        frame = frame.copy()
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(_text_or_none)
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    if fmt == "json":
        return (to_json_text(records(frame, nan_is_missing)) + "\n").encode()
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
