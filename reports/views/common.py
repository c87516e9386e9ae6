"""Small helpers the page modules share: showing stored strings as plain text,
formatting durations, commands and nested dicts as text, and picking the param
columns of a runs frame."""

from __future__ import annotations

import json
import math
import re
import shlex
import string
from collections.abc import Mapping
from typing import Any

#: the columns every ``list_runs`` row has; the rest are params (one definition, in the database package)
from scratchlab.core.textsafe import printable
from scratchlab.db.filters import RUN_COLUMNS
from scratchlab.db.sqltypes import Damaged

#: columns that tell replicates of one configuration apart (not part of "what ran")
REPLICATE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "key",
    "seed",
    "repeat",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "reason",
    "sweep_id",
)

#: Altair colour scale for run statuses, so every page colours them alike
STATUS_COLORS: dict[str, str] = {
    "pending": "#9e9e9e",
    "running": "#1f77b4",
    "done": "#2ca02c",
    "failed": "#d62728",
    "skipped": "#ff7f0e",
    "timeout": "#9467bd",
    "interrupted": "#8c564b",
    "pruned": "#17becf",
}


#: every ASCII punctuation character: CommonMark lets a backslash make each one literal
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")

#: text Streamlit's renderer rewrites after parsing (escapes cannot stop it): bare URLs and
#: e-mail addresses become links, ``:name:`` and ``:material/name:`` become icons. A word
#: joiner (U+2060, invisible) after the trigger breaks each pattern without changing what is read.
_AFTER_PARSE = re.compile(r"(:|www|@)")
WORD_JOINER = "\u2060"


def plain(value: Any) -> str:
    """``value`` as text that Streamlit shows literally wherever it would read Markdown
    (titles, captions, alerts, widget labels, radio and pill options, metric values).

    Every string that comes from the database or a plugin (sweep, model and component
    names, descriptions, reasons, error messages) goes through here before such an
    element: no image is fetched, no link is live, no bold, colour, icon or LaTeX
    appears, and HTML shows as its source. Newlines and runs of spaces become one space
    (one line); invisible and control characters (zero-width, bidi overrides, ANSI
    escapes) show as their escapes (:func:`~scratchlab.core.textsafe.printable`). Elements that never read Markdown (``st.text``, ``st.code``, tables,
    selectbox and multiselect options) take the string as it is.
    """
    text = printable(" ".join(text_value(value).split()))
    return _AFTER_PARSE.sub(lambda m: m.group(1) + WORD_JOINER, _PUNCTUATION.sub(r"\\\1", text))


def escaped(frame):
    """``frame`` as a table shows it: every text cell and column name with its invisible
    and control characters escaped (:func:`~scratchlab.core.textsafe.printable`), so a
    stored name cannot read as another; numbers, times and missing values as they are.
    The frame the page computes with keeps the stored text (filters match it)."""
    frame = frame.copy()
    for position in range(frame.shape[1]):  # by position: a name may repeat
        values = frame.iloc[:, position]
        if values.dtype.kind not in "iufcbmM":  # object or string columns
            frame.isetitem(position, [printable(v) if isinstance(v, str) else v for v in values])
    frame.columns = [printable(c) if isinstance(c, str) else c for c in frame.columns]
    return frame


def param_columns(runs) -> list[str]:
    """The param columns of a ``list_runs`` frame (component choices and params), in order."""
    return [c for c in runs.columns if c not in RUN_COLUMNS]


def command_line(argv: Any) -> str:
    """The command a sweep was started with, as one shell-quoted line.

    ``argv`` may be a list, a JSON list in text, or already a string.
    """
    if argv is None:
        return ""
    if isinstance(argv, str):
        try:
            argv = json.loads(argv)
        except ValueError:
            return argv
        if isinstance(argv, str):
            return argv
    return shlex.join(str(a) for a in argv)


def format_duration(seconds: Any) -> str:
    """``3725.2`` -> ``"1h 02m 05s"``, ``2.5`` -> ``"2.50 s"``; missing -> ``""``; a damaged
    stored time (:class:`~scratchlab.db.sqltypes.Damaged`) -> ``"damaged"``."""
    if isinstance(seconds, Damaged):
        return "damaged"
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return ""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    if math.isnan(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def error_summary(reason: Any) -> str:
    """The line of a reason that says what went wrong: for a traceback its last
    line (``ValueError: ...``), otherwise the reason's first line."""
    if not isinstance(reason, str) or not reason.strip():
        return ""
    lines = [line for line in reason.strip().splitlines() if line.strip()]
    if lines[0].startswith("Traceback"):
        return lines[-1].strip()
    return lines[0].strip()


def is_missing(value: Any) -> bool:
    """True for None, NaN, ``pd.NA`` and ``NaT``: a value a run does not have."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def text_value(value: Any) -> str:
    """Any value as text for a table cell: lists and dicts as compact JSON, missing as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str)
    return str(value)


#: the most steps a step axis ticks one by one; past it Vega-Lite picks whole-step ticks
STEP_TICKS = 12


def step_axis(steps, title: str = "step"):
    """The x encoding of a chart over training steps (or epochs): whole steps only, each one
    ticked when there are few (Vega-Lite would tick a two-step run at 0.05, 0.10...)."""
    import altair as alt

    steps = sorted({int(s) for s in steps})
    return alt.X(
        "step:Q",
        title=title,
        axis=alt.Axis(
            format="d", tickMinStep=1, values=steps if len(steps) <= STEP_TICKS else alt.Undefined
        ),
        scale=alt.Scale(nice=False),
    )
