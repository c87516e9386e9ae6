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


#: key of a JSON row that names the values that were NaN or infinite (written as null)
NONFINITE_KEY = "nonfinite"

#: characters that make a spreadsheet read a CSV cell as a formula (OWASP's CSV-injection list)
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def nonfinite_name(value: Any) -> str | None:
    """``"NaN"``, ``"inf"`` or ``"-inf"`` for a non-finite float, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return None


def nonfinite_names(mapping: Any) -> dict[str, str]:
    """``{key: "NaN" | "inf" | "-inf"}`` for the non-finite numbers among ``mapping``'s
    values: what a JSON document whose values are :func:`json_value` says beside them."""
    found = {}
    for key, value in mapping.items():
        if hasattr(value, "item") and not isinstance(value, str | bytes):
            value = value.item()
        if (kind := nonfinite_name(value)) is not None:
            found[str(key)] = kind
    return found


def json_value(value: Any) -> Any:
    """A JSON-safe value: NaN and infinities as ``null`` (JSON has no such numbers;
    :func:`records` says which in :data:`NONFINITE_KEY`), timestamps as ISO text,
    numpy scalars as Python ones."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if nonfinite_name(value) is not None:
        return None
    return value


def records(frame, nan_is_missing: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-safe dicts; missing values and non-finite numbers are null.

    Missing (``None``/``pd.NA``/``NaT``) and not-a-number differ: a loss that
    diverged is NaN. So a row whose numbers were NaN or infinite gets
    ``"nonfinite": {column: "NaN" | "inf" | "-inf"}``. A NaN counts as missing,
    without that note, in the columns ``nan_is_missing`` (params: a float column
    marks a run without that param with NaN) and in text columns (a run without
    a reason).
    """
    import pandas as pd

    rows = []
    columns = list(frame.columns)
    missing_nan = set(nan_is_missing) | {
        c
        for c in columns
        if frame[c].dtype.kind not in "iufc" and any(isinstance(v, str) for v in frame[c])
    }
    for values in frame.itertuples(index=False, name=None):
        row: dict[str, Any] = {}
        odd: dict[str, str] = {}
        for column, value in zip(columns, values):
            if value is pd.NA or value is pd.NaT or value is None:
                row[column] = None
                continue
            if hasattr(value, "item") and not isinstance(value, str | bytes):
                value = value.item()
            kind = nonfinite_name(value)
            if kind is not None and not (kind == "NaN" and column in missing_nan):
                odd[str(column)] = kind
            row[column] = json_value(value)
        if odd:
            row[NONFINITE_KEY] = odd
        rows.append(row)
    return rows


def neutralise_formulas(frame):
    """``frame`` with every text cell that a spreadsheet would run as a formula (it
    begins with one of :data:`FORMULA_STARTS`) prefixed with ``'`` (the OWASP rule),
    header cells too: a wide table's column names are metric and param names that a
    plugin or a run chose (``=HYPERLINK(...)``).

    Numbers are left alone, also negative ones, and so is text that reads as a
    finite number (``"-0.5"``): a spreadsheet reads those as numbers, not formulas.
    """
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype.kind in "iufcbmM":
            continue
        frame[column] = frame[column].map(_neutralised)
    frame.columns = [_neutralised(column) for column in frame.columns]
    return frame


def _neutralised(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        if math.isfinite(float(value)):
            return value
    except ValueError:
        pass
    return "'" + value


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


def table_bytes(
    frame, fmt: str, nan_is_missing: Iterable[str] = (), *, formulas: bool = False
) -> bytes:
    """``frame`` serialised as ``fmt`` (``csv``, ``parquet`` or ``json``, a list of row
    objects; ``nan_is_missing`` as in :func:`records`). CSV cells that would run
    as spreadsheet formulas are neutralised (:func:`neutralise_formulas`) unless
    ``formulas`` is True.

    Raises ``ValueError`` for any other format.
    """
    if fmt == "csv":
        return (frame if formulas else neutralise_formulas(frame)).to_csv(index=False).encode()
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
