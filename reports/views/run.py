"""Run page logic: one run's fields, choices and params as text tables, its
per-layer statistics per model, its curves, and its timings with every
replicate. Input: ``queries.run_summary``'s dict, plus the ``metrics`` and
``timing_replicates`` frames of that run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scratchlab.reports.views.common import format_duration, text_value

#: the run fields listed first, in this order
FIELDS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "sweep_name",
    "experiment",
    "status",
    "device",
    "dtype",
    "seed",
    "repeat",
    "started_at",
    "finished_at",
    "duration_s",
    "key",
)


def run_link(run_id: Any) -> str:
    """The Run page's relative URL for ``run_id`` (``run?run.id=42``), for link columns."""
    return f"run?run.id={int(run_id)}"


#: the link column :func:`with_run_links` adds, and the text it shows
LINK_COLUMN = "open"
LINK_TEXT = "open run"


def with_run_links(frame, column: str = "run_id"):
    """``frame`` with a first column :data:`LINK_COLUMN` linking each row's run
    (``column``) to the Run page; show it with :func:`link_config`."""
    linked = frame.copy()
    linked.insert(0, LINK_COLUMN, [run_link(r) for r in frame[column]])
    return linked


def link_config() -> dict:
    """The ``column_config`` entry that shows :data:`LINK_COLUMN` as links (needs Streamlit)."""
    import streamlit as st

    return {
        LINK_COLUMN: st.column_config.LinkColumn(LINK_COLUMN, display_text=LINK_TEXT, width="small")
    }


def fields_table(summary: Mapping[str, Any]):
    """``[field, value]`` text rows: the run's columns, the duration readable."""
    import pandas as pd

    rows = []
    for name in FIELDS:
        value = summary.get(name)
        rows.append(
            {
                "field": name,
                "value": format_duration(value) if name == "duration_s" else text_value(value),
            }
        )
    return pd.DataFrame(rows)


def choices_table(summary: Mapping[str, Any]):
    """``[category, component, version]`` rows: what the run was built from."""
    import pandas as pd

    versions = summary.get("component_versions") or {}
    return pd.DataFrame(
        [
            {"category": c, "component": text_value(n), "version": text_value(versions.get(c))}
            for c, n in sorted((summary.get("components") or {}).items())
        ],
        columns=["category", "component", "version"],
    )


def params_table(summary: Mapping[str, Any]):
    """``[param, value]`` text rows, sorted by name."""
    import pandas as pd

    params = summary.get("params") or {}
    return pd.DataFrame(
        [{"param": k, "value": text_value(params[k])} for k in sorted(params)],
        columns=["param", "value"],
    )


def is_seconds(metric: str) -> bool:
    """A metric that holds seconds (``epoch_time_s``, ``64x784x50.median_s``), not a rate."""
    return metric.endswith("_s") and not metric.endswith("per_s")


def time_unit(summary: Mapping[str, Any]) -> tuple[str, float]:
    """The one unit a run's times show in on its page: the one that suits its timings'
    medians (:func:`~scratchlab.reports.views.timings.pick_unit`), else its time metrics."""
    from scratchlab.reports.views.timings import pick_unit

    timings = summary.get("timings")
    if timings is not None and len(timings):
        return pick_unit(timings["median"])
    metrics = summary.get("metrics") or {}
    return pick_unit([float(v) for k, v in metrics.items() if is_seconds(k)])


def metrics_table(summary: Mapping[str, Any], unit: tuple[str, float] | None = None):
    """``[metric, value]``: every final metric, NaN kept visible; a time metric in
    ``unit`` (default :func:`time_unit`), named with it: ``64x784x50.median (µs)``."""
    import pandas as pd

    name, scale = unit or time_unit(summary)
    rows = [
        (f"{k.removesuffix('_s')} ({name})", float(v) / scale) if is_seconds(k) else (k, float(v))
        for k, v in (summary.get("metrics") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["metric", "value"])


def stats_chart(stats):
    """This run's std per layer, one line per model (log axis; non-finite left out)."""
    import altair as alt
    import numpy as np

    data = stats[np.isfinite(stats["std"].astype(float)) & (stats["std"].astype(float) > 0)]
    return (
        alt.Chart(data)
        .mark_line(point=len(data) <= 300)
        .encode(
            x=alt.X("layer:Q", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y(
                "std:Q", scale=alt.Scale(type="log"), title="std (log)", axis=alt.Axis(format="~g")
            ),
            color=alt.Color("model:N"),
            tooltip=[
                "model",
                "layer",
                "name",
                alt.Tooltip("std:Q", format=".4g"),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("frac_zero:Q", format=".2f"),
            ],
        )
        .properties(title="activation std per layer", height=280)
        .interactive()
    )


def replicate_chart(timings, replicates, unit: tuple[str, float] | None = None):
    """Every replicate of each timing as a dot (one row per label and shape), the
    median as a tick: the distribution behind the stored median and IQR; times in
    ``unit`` (default: the one that suits the replicates)."""
    import altair as alt

    from scratchlab.reports.views.timings import pick_unit

    unit, scale = unit or pick_unit(replicates["seconds"])
    names = timings[["timing_id", "label", "shape", "quality"]].copy()
    # matmul labels each timing by its shape: say it once
    shapes = names["shape"].fillna("").astype(str)
    names["timing"] = [
        label if label == shape else f"{label} {shape}".strip()
        for label, shape in zip(names["label"].astype(str), shapes)
    ]
    data = replicates.merge(names, on="timing_id")
    data["time"] = data["seconds"] / scale
    medians = data.groupby("timing", as_index=False)["time"].median()
    y = alt.Y("timing:N", title=None)
    x = alt.X("time:Q", scale=alt.Scale(type="log"), title=f"time per call ({unit}, log)")
    dots = (
        alt.Chart(data)
        .mark_circle(size=40, opacity=0.6)
        .encode(
            x=x,
            y=y,
            yOffset=alt.YOffset("jitter:Q"),
            color=alt.Color("quality:N", title="quality"),
            tooltip=[
                "timing",
                "replicate",
                alt.Tooltip("time:Q", format=".4g", title=unit),
                "quality",
            ],
        )
        .transform_calculate(jitter="random()")
    )
    ticks = alt.Chart(medians).mark_tick(color="black", thickness=2, size=24).encode(x=x, y=y)
    return alt.layer(dots, ticks).properties(
        title="replicates (dots) and median (tick)", height=alt.Step(40)
    )
