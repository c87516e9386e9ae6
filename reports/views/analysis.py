"""Analysis page logic: which categories and params matter to a metric and how.

Input: an analysis table (:func:`scratchlab.db.analysis.metric_table`: one row per
run with ``value``, the metric's final value, and one column per category and
param) and, for the bars, an :class:`~scratchlab.reports.importance.Importance`.
Four Altair charts, each a plain function of frames (the app and ``sl.charts``
draw the same): importance bars, parallel coordinates (a line per run across the
chosen dimensions to the metric, coloured by it), slice plots (the metric against
each dimension) and the best-so-far curve of a search against the trial number.
"""

from __future__ import annotations

import math
from typing import Any

from scratchlab.reports.importance import LOG_SPAN, MISSING, varying_dimensions
from scratchlab.reports.views.training import setting_text

#: the most runs the page draws; past it a fixed-seed sample, said in a caption
MAX_DRAWN = 1000
#: the most slice panels in one row
SLICE_COLUMNS = 3
#: the most values a categorical axis labels (more are drawn, not named)
MAX_LABELS = 12
#: a slice panel's width, and the least width each value of a category gets in it, so that its
#: slanted label never overlaps the next one (Vega-Lite would drop every other label instead)
SLICE_WIDTH_PX = 220
SLICE_STEP_PX = 36
#: the widest a category's slice panel grows; past it Vega-Lite leaves out overlapping labels
#: (each point's tooltip still names its value)
SLICE_MAX_WIDTH_PX = 900


def varying(table, names: list[str] | None = None) -> list[str]:
    """The names of the dimensions of ``table`` that vary (categories first), or of those in ``names``."""
    found = [d.name for d in varying_dimensions(table)]
    return found if names is None else [n for n in found if n in set(names)]


def _numeric(table, name: str) -> bool:
    dims = {d.name: d for d in table.attrs.get("dimensions", [])}
    return name in dims and dims[name].numeric and not table[name].isna().any()


def _log_scale(values) -> bool:
    low, high = float(min(values)), float(max(values))
    return low > 0 and high / low >= LOG_SPAN


def sample_caption(table, drawn: int | None = None) -> str | None:
    """What a caption says when the page shows fewer runs than selected, else None."""
    total = int(table.attrs.get("total", len(table)))
    shown = len(table) if drawn is None else drawn
    if shown >= total:
        return None
    return (
        f"A uniform sample of {shown:,} of the {total:,} runs with "
        f"{table.attrs.get('metric', 'the metric')} (the same sample every time): "
        "narrow the filter to see them all."
    )


def importance_chart(importance):
    """Horizontal bars, most important on top, coloured by kind (category or param)."""
    import altair as alt

    frame = importance.frame()
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("importance:Q", title="importance", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("name:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
            color=alt.Color("kind:N", title=None, scale=alt.Scale(scheme="tableau10")),
            tooltip=["name", "kind", alt.Tooltip("importance:Q", format=".3f")],
        )
        .properties(
            height=alt.Step(24),
            title=f"importance for {importance.metric} ({importance.evaluator}, "
            f"{importance.runs} runs)",
        )
    )


def parallel_frame(table, names: list[str]):
    """Long form of the parallel coordinates: one row per run and axis with ``position``
    in [0, 1] (a numeric value scaled, log where it spans two decades; a category by its
    rank), the value's ``label`` and the run's metric ``value``; the metric is the last axis."""
    import numpy as np
    import pandas as pd

    metric = table.attrs.get("metric", "value")
    parts = []
    for order, name in enumerate([*names, metric]):
        column = table["value"] if name == metric else table[name]
        if name == metric or _numeric(table, name):
            numbers = column.astype(float).to_numpy()
            finite = numbers[np.isfinite(numbers)]
            log = finite.size > 0 and _log_scale(finite)
            scaled = np.log10(numbers) if log else numbers
            low, high = (np.nanmin(scaled), np.nanmax(scaled)) if finite.size else (0.0, 1.0)
            position = (scaled - low) / (high - low) if high > low else np.full(len(numbers), 0.5)
            labels = [_number_text(v) for v in numbers]
        else:
            labels = [MISSING if v is None else setting_text(v) for v in column]
            ranks = {label: i for i, label in enumerate(sorted(set(labels)))}
            span = max(len(ranks) - 1, 1)
            position = np.array([ranks[label] / span for label in labels], dtype=float)
            if len(ranks) == 1:
                position = np.full(len(labels), 0.5)
        parts.append(
            pd.DataFrame(
                {
                    "run_id": table["run_id"].to_numpy(),
                    "axis": name,
                    "order": order,
                    "position": position,
                    "label": labels,
                    # the metric's axis names only its ends: its values are all different
                    "ends_only": name == metric,
                    "value": table["value"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def parallel_chart(table, names: list[str]):
    """Parallel coordinates: a line per run across ``names`` to the metric, coloured by the
    metric (viridis), with each axis's values named where they are few.

    The data is one row per run (each axis's position a column, folded into lines by
    Vega-Lite), not one per run and axis: a 1,000-run sample is 1,000 rows, within
    Altair's row limit outside Streamlit, and a third of the JSON."""
    import altair as alt

    metric = table.attrs.get("metric", "value")
    long = parallel_frame(table, names)
    keys = [f"a{order}" for order in range(len(names) + 1)]
    wide = long.pivot(index="run_id", columns="order", values="position")
    wide.columns = [keys[order] for order in wide.columns]
    wide = wide.reset_index().merge(table[["run_id", "value"]], on="run_id")
    x = alt.X("key:N", sort=keys, title=None, axis=None)
    y = alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[-0.1, 1.02]))
    lines = (
        alt.Chart(wide)
        .transform_fold(keys, as_=["key", "position"])
        .mark_line(opacity=0.5, strokeWidth=1)
        .encode(
            x=x,
            y=y,
            detail="run_id:N",
            color=alt.Color("value:Q", title=metric, scale=alt.Scale(scheme="viridis")),
            tooltip=["run_id", alt.Tooltip("value:Q", title=metric, format=".4g")],
        )
    )
    ticks = _axis_labels(long).assign(key=lambda f: [keys[o] for o in f["order"]])
    rules = alt.Chart(ticks).mark_rule(color="#888").encode(x=x)
    text = (
        alt.Chart(ticks)
        .mark_text(align="left", dx=4, fontSize=11, color="#333")
        .encode(x=x, y=y, text="label:N")
    )
    titles = ticks.drop_duplicates("key").assign(position=-0.07)
    axis_names = (
        alt.Chart(titles)
        .mark_text(fontSize=12, fontWeight="bold", color="#333")
        .encode(x=x, y=y, text="axis:N")
    )
    return alt.layer(lines, rules, text, axis_names).properties(
        height=360, title=f"{metric} across the chosen dimensions, a line per run"
    )


def _number_text(value: float) -> str:
    """A number on an axis: four significant digits (``0.8640000224`` -> ``0.864``)."""
    return "" if math.isnan(value) else f"{value:.4g}"


def _axis_labels(long):
    """The labelled points of every axis: each value of a few-valued axis, else its ends."""
    labels = long.drop_duplicates(["axis", "label"])[
        ["axis", "order", "position", "label", "ends_only"]
    ]
    rows = []
    for _axis, group in labels.groupby("axis", sort=False):
        if len(group) <= MAX_LABELS and not group["ends_only"].iloc[0]:
            rows.append(group)
        else:
            ordered = group.dropna(subset=["position"]).sort_values("position")
            rows.append(ordered.iloc[[0, -1]] if len(ordered) > 1 else ordered)
    import pandas as pd

    return pd.concat(rows, ignore_index=True)


def slice_chart(table, names: list[str]):
    """The metric against each of ``names``, a panel each: points over a numeric axis (log
    where it spans two decades), a strip per value of a category with its mean as a tick.

    One dataset for every panel (a column per dimension, named ``d0``, ``d1``...: a
    dimension's own name may hold a dot, which Vega-Lite reads as a nested field)."""
    import altair as alt
    import pandas as pd

    metric = table.attrs.get("metric", "value")
    data = pd.DataFrame({"run_id": table["run_id"], "value": table["value"]})
    for i, name in enumerate(names):
        numeric = _numeric(table, name)
        data[f"d{i}"] = table[name] if numeric else [_category_text(v) for v in table[name]]
    panels = [_slice_panel(table, name, f"d{i}", metric) for i, name in enumerate(names)]
    return alt.concat(*panels, columns=SLICE_COLUMNS, data=data).properties(
        title=f"{metric} against each dimension, a point per run"
    )


def _category_text(value: Any) -> str:
    return MISSING if value is None else setting_text(value)


def _slice_panel(table, name: str, field: str, metric: str):
    import altair as alt

    y = alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False))
    tooltip = ["run_id", alt.Tooltip("value:Q", title=metric, format=".4g")]
    if _numeric(table, name):
        scale = alt.Scale(type="log" if _log_scale(table[name]) else "linear", zero=False)
        chart = (
            alt.Chart()
            .mark_circle(opacity=0.6)
            .encode(
                x=alt.X(f"{field}:Q", title=name, scale=scale),
                y=y,
                tooltip=[*tooltip, alt.Tooltip(f"{field}:Q", title=name)],
            )
        )
        return chart.properties(width=SLICE_WIDTH_PX, height=180)
    values = len({_category_text(v) for v in table[name]})
    width = min(max(SLICE_WIDTH_PX, SLICE_STEP_PX * values), SLICE_MAX_WIDTH_PX)
    every_label = SLICE_STEP_PX * values <= SLICE_MAX_WIDTH_PX
    axis = alt.Axis(labelAngle=-45, labelLimit=120, labelOverlap=not every_label)
    x = alt.X(f"{field}:N", title=name, axis=axis)
    points = (
        alt.Chart()
        .mark_circle(opacity=0.5)
        .encode(x=x, y=y, tooltip=[*tooltip, alt.Tooltip(f"{field}:N", title=name)])
    )
    means = (
        alt.Chart()
        .mark_tick(color="#d62728", thickness=2, size=18)
        .encode(x=x, y=alt.Y("mean(value):Q", title=metric))
    )
    return alt.layer(points, means).properties(width=width, height=180)


def best_so_far(table, direction: str = "maximize"):
    """``[sweep_id, trial, value, best]``: each sweep's runs in trial order with the best
    value up to each trial (NaN values never best)."""
    data = table[["sweep_id", "trial", "value"]].sort_values(["sweep_id", "trial"]).copy()
    finite = data["value"].where(data["value"].map(_finite))
    grouped = finite.groupby(data["sweep_id"])
    data["best"] = grouped.cummax() if direction == "maximize" else grouped.cummin()
    return data.reset_index(drop=True)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def best_chart(curve, metric: str):
    """The best value so far against the trial number, a line per sweep over its trials' points."""
    import altair as alt

    data = curve.assign(sweep=curve["sweep_id"].map(lambda s: f"sweep {s}"))
    # a sweep of several experiments numbers the metric's runs from where they start
    x = alt.X(
        "trial:Q",
        title="trial (run of its sweep)",
        axis=alt.Axis(format="d", tickMinStep=1),
        scale=alt.Scale(zero=False),
    )
    colour = alt.Color("sweep:N", title=None, scale=alt.Scale(scheme="tableau10"))
    points = (
        alt.Chart(data)
        .mark_circle(opacity=0.35, size=24)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
            color=colour,
            tooltip=["sweep", "trial", alt.Tooltip("value:Q", title=metric, format=".4g")],
        )
    )
    line = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y("best:Q", title=metric),
            color=colour,
            tooltip=["sweep", "trial", alt.Tooltip("best:Q", title=f"best {metric}", format=".4g")],
        )
    )
    return alt.layer(points, line).properties(
        height=300, title=f"best {metric} so far against the trial number"
    )


__all__ = [
    "MAX_DRAWN",
    "best_chart",
    "best_so_far",
    "importance_chart",
    "parallel_chart",
    "parallel_frame",
    "sample_caption",
    "slice_chart",
    "varying",
]
