"""Activations page logic: per-layer mean and std for each init x activation,
per model, the first layer whose activations are non-finite, and the same
statistics per step during training.

Input frames are those of ``scratchlab.db.queries.activation_stats`` (one row
per run, model, layer and step) and ``list_runs`` (for the component choices).
"""

from __future__ import annotations

import math

from scratchlab.reports.views.common import step_axis

#: the component categories that tell activation profiles apart
COMBO_COLUMNS: tuple[str, ...] = ("init", "activation")

#: the experiments' models in the order the lessons meet them; others follow by name
MODEL_ORDER: tuple[str, ...] = ("mlp", "deep", "conv")

#: statistics a chart can plot, and whether a log axis suits them
VALUES: dict[str, bool] = {"mean": False, "std": True, "frac_zero": False, "frac_nonfinite": False}


def label_stats(stats, runs, by: tuple[str, ...] = COMBO_COLUMNS):
    """``stats`` plus each run's choices (``init``, ``activation``) and a ``combo`` column
    naming them together (``kaiming-normal × relu``), taken from the ``list_runs`` frame
    ``runs``; runs without those columns are named by id."""
    present = [c for c in by if c in runs.columns]
    names = runs[["run_id", *present]].copy()
    if present:
        names["combo"] = names[present].astype(str).agg(" × ".join, axis=1)
    else:
        names["combo"] = "run " + names["run_id"].astype(str)
    return stats.merge(names[["run_id", *present, "combo"]], on="run_id", how="left").fillna(
        {"combo": ""}
    )


def model_names(stats) -> list[str]:
    """The models in ``stats``, in :data:`MODEL_ORDER` then by name."""
    present = set(stats["model"])
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def final_stats(stats):
    """The statistics at the end of each run: rows without a step, or, for a run
    and model recorded only per step, its last step."""
    if stats.empty:
        return stats
    no_step = stats[stats["step"].isna()]
    stepped = stats[stats["step"].notna()]
    covered = set(zip(no_step["run_id"], no_step["model"]))
    if not stepped.empty:
        last = stepped.groupby(["run_id", "model"])["step"].transform("max")
        stepped = stepped[stepped["step"] == last]
        stepped = stepped[
            [(r, m) not in covered for r, m in zip(stepped["run_id"], stepped["model"])]
        ]
    import pandas as pd

    return pd.concat([no_step, stepped], ignore_index=True)


def layer_profile(stats):
    """Mean over repeats of each statistic per combo, model and layer (``frac_nonfinite``:
    the worst repeat), ready for :func:`layer_chart`."""
    keys = ["combo", *(c for c in COMBO_COLUMNS if c in stats.columns), "model", "layer", "name"]
    return (
        stats.groupby(keys, dropna=False)
        .agg(
            mean=("mean", "mean"),
            std=("std", "mean"),
            frac_zero=("frac_zero", "mean"),
            frac_nonfinite=("frac_nonfinite", "max"),
            runs=("run_id", "nunique"),
        )
        .reset_index()
        .sort_values(["model", "combo", "layer"])
        .reset_index(drop=True)
    )


def _plottable(frame, value: str, log: bool):
    """Rows a chart can draw: finite values, and positive ones on a log axis
    (a zero std, the dead-ReLU case, cannot sit on a log axis)."""
    column = frame[value].astype(float)
    keep = column.map(math.isfinite)
    if log:
        keep &= column > 0
    return frame[keep]


#: the scale each statistic is drawn on: std on a log axis (explosion and vanishing
#: both show), the mean on a symmetric log (a 1e37 mean no longer flattens the rest)
SCALES: dict[str, str] = {"mean": "symlog", "std": "log"}


def default_model(models: list[str]) -> str | None:
    """The model a page opens on: the 100-layer ``deep`` stack when it has data (where
    the lessons' point shows), else the first in :data:`MODEL_ORDER`."""
    if "deep" in models:
        return "deep"
    return models[0] if models else None


#: a line whose statistic stays within this many decades of 1 at every layer is one the
#: chart opens focused on; lines that leave it (exploding, vanishing) leave the chart
FOCUS_DECADES = 2.0

#: the tick format of a log or symmetric-log axis: one format for every tick (``1e-2``,
#: ``1e+0``, ``1e+20``; Vega's default mixed ``1e+20`` with ``10000000000``)
LOG_FORMAT = "~e"


def focus_range(data, value: str, line: str) -> tuple[float, float] | None:
    """The y range a log chart of ``value`` opens on: the span of the lines (rows grouped
    by ``line`` and activation) that stay within :data:`FOCUS_DECADES` of 1, padded by
    half a decade and holding 1. None when every line stays in that span or none does
    (nothing to focus on)."""
    import numpy as np

    keys = [line, *(["activation"] if "activation" in data.columns else [])]
    logs = np.log10(data[value].astype(float))
    tame = logs.abs().groupby([data[k] for k in keys]).max() <= FOCUS_DECADES
    if tame.all() or not tame.any():
        return None
    inside = data.set_index(keys).index.isin(tame[tame].index)
    low, high = logs[inside].min(), logs[inside].max()
    return 10 ** (min(low, 0.0) - 0.5), 10 ** (max(high, 0.0) + 0.5)


def exits(data, value: str, line: str, domain: tuple[float, float]):
    """Where each line first leaves ``domain``: one row per line that does, with the
    layer, the value, ``edge`` (the domain's bound it crossed, where its marker is
    drawn) and ``direction`` (``above`` or ``below``)."""
    import pandas as pd

    low, high = domain
    keys = [line, *(["activation"] if "activation" in data.columns else [])]
    out = data[(data[value] < low) | (data[value] > high)].sort_values("layer")
    first = out.groupby(keys, sort=False).head(1).copy()
    above = first[value] > high
    first["edge"] = [high if a else low for a in above]
    first["direction"] = ["above" if a else "below" for a in above]
    return first if len(first) else pd.DataFrame(columns=[*data.columns, "edge", "direction"])


def _focused(data, value: str, color: str, kind: str, focus: bool):
    """``(y scale, exit rows, title)`` of :func:`layer_chart`: on a log axis with
    ``focus``, the scale's domain is :func:`focus_range` and the title says which
    lines leave it; otherwise the whole range and no exits."""
    import altair as alt
    import pandas as pd

    title = f"activation {value} per layer"
    domain = focus_range(data, value, color) if focus and kind == "log" and len(data) else None
    if not domain:
        scale = alt.Scale(type=kind) if kind != "linear" else alt.Scale(zero=False)
        return scale, pd.DataFrame(), title
    marks = exits(data, value, color, domain)
    leaving = ", ".join(sorted(set(map(str, marks[color]))))
    subtitle = (
        f"focused on {domain[0]:.2g} to {domain[1]:.2g}: {leaving} leave it (▲▼ where); "
        "scroll out to see all"
    )
    return (
        alt.Scale(type=kind, domain=list(domain)),
        marks,
        {"text": title, "subtitle": subtitle},
    )


def _exit_marks(base, scale):
    """The triangles at the chart's edge where a line leaves the focused range."""
    import altair as alt

    return (
        base.transform_filter(alt.datum.mark == "exit")
        .mark_point(filled=True, size=110, clip=True)
        .encode(
            y=alt.Y("edge:Q", scale=scale),
            shape=alt.Shape(
                "direction:N",
                scale=alt.Scale(domain=["above", "below"], range=["triangle-up", "triangle-down"]),
                legend=alt.Legend(title="leaves the range"),
            ),
        )
    )


def layer_chart(profile, value: str = "mean", log: bool | None = None, focus: bool = True):
    """Lines of one statistic against layer index: one panel per activation, one
    line per init (the lessons' grid), or one line per combo when the runs lack
    those columns.

    The scale is :data:`SCALES`' (``log=False`` forces a linear one). On a log axis
    the chart opens on :func:`focus_range` (with ``focus``): the lines that explode
    or vanish leave it, a triangle at the edge marking where (:func:`exits`), so the
    healthy inits are not squeezed onto one line at 1; its ticks have one format,
    :data:`LOG_FORMAT`. Lines can be told apart: hovering a line or its legend entry
    highlights it and fades the rest, and the chart zooms and pans with the mouse
    (double-click resets). Non-finite values are left out of the line; the
    first-non-finite table says where they start.
    """
    import altair as alt
    import pandas as pd

    kind = scale_kind(value, log)
    data = _plottable(profile, value, kind == "log")
    color = "init" if "init" in data.columns else "combo"
    scale, marks, title = _focused(data, value, color, kind, focus)
    base = _layer_base(value, color)
    lines = _layer_lines(base, value, color, kind, scale, points=len(data) <= 400)
    layers = [lines, _exit_marks(base, scale)] if len(marks) else [lines]
    layered = pd.concat([data.assign(mark="line"), marks.assign(mark="exit")], ignore_index=True)
    chart = alt.layer(*layers, data=layered)
    if "activation" in data.columns and data["activation"].nunique() > 1:
        return (
            chart.properties(width=260, height=200)
            .facet(facet=alt.Facet("activation:N", title="activation"), columns=3)
            .properties(title=title)
        )
    return chart.properties(title=title, height=320)


def scale_kind(value: str, log: bool | None = None) -> str:
    """The y scale of :func:`layer_chart` for statistic ``value``: its :data:`SCALES`
    entry (``linear`` for the rest), ``linear`` when ``log`` is False, and ``log``
    when ``log`` asks for one that :data:`SCALES` does not name."""
    kind = SCALES.get(value, "linear") if log is not False else "linear"
    if log and value not in SCALES:
        kind = "log"
    return kind


def _layer_base(value: str, color: str):
    """What the lines and the exit marks share: the layer on x, a colour per ``color``
    value with every one in the legend, and the tooltip."""
    import altair as alt

    return alt.Chart().encode(
        x=alt.X("layer:Q", title="layer", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color(
            f"{color}:N",
            title=color,
            scale=alt.Scale(scheme="tableau10"),
            legend=alt.Legend(symbolLimit=0, labelLimit=300),
        ),
        tooltip=[
            "combo",
            "model",
            "layer",
            "name",
            alt.Tooltip(f"{value}:Q", format=".4g"),
            "runs",
        ],
    )


def _layer_lines(base, value: str, color: str, kind: str, scale, points: bool):
    """A line per ``color`` value on the y ``scale`` (of ``kind``), with points when
    ``points``; hovering a line or its legend entry highlights it, and the chart zooms
    and pans with the mouse."""
    import altair as alt

    hover = alt.selection_point(fields=[color], on="pointerover", bind="legend", clear="pointerout")
    zoom = alt.selection_interval(bind="scales")
    suffix = {"log": " (log)", "symlog": " (symmetric log)"}.get(kind, "")
    axis = alt.Axis(format=LOG_FORMAT if kind != "linear" else "~g")
    return (
        base.transform_filter(alt.datum.mark == "line")
        .mark_line(point=points, clip=True)
        .encode(
            y=alt.Y(f"{value}:Q", scale=scale, title=f"{value}{suffix}", axis=axis),
            opacity=alt.condition(hover, alt.value(1.0), alt.value(0.15)),
            strokeWidth=alt.condition(hover, alt.value(2.5), alt.value(1.2)),
        )
        .add_params(hover, zoom)
    )


def last_layer(profile, value: str = "std"):
    """``value`` at each combo's last layer, the lessons' verdict on an init (a std
    near 1 at depth is what Kaiming keeps): ``[combo, layer, <value>, off by]`` with
    ``off by`` = ``|log10(value)|`` (0: exactly 1), sorted best first."""
    import numpy as np

    if profile.empty:
        return profile.assign(**{"off by": []})[["combo", "layer", value, "off by"]]
    last = profile.loc[profile.groupby("combo")["layer"].idxmax(), ["combo", "layer", value]].copy()
    values = last[value].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.abs(np.log10(values.where(values > 0)))
    last["off by"] = off.where(np.isfinite(off), np.inf)
    return last.sort_values(["off by", "combo"]).reset_index(drop=True)


def first_nonfinite(stats):
    """Per run and model, the first layer whose output had any non-finite value
    (``frac_nonfinite > 0``, or a non-finite mean/std) as ``first_nonfinite`` and
    ``layer_name``; both empty where every layer stayed finite."""
    import numpy as np
    import pandas as pd

    bad = (
        (stats["frac_nonfinite"].fillna(0) > 0)
        | ~np.isfinite(stats["mean"].astype(float))
        | ~np.isfinite(stats["std"].astype(float))
    )
    rows = []
    for (run_id, model), group in stats.groupby(["run_id", "model"], sort=True):
        broken = group[bad.loc[group.index]].sort_values("layer")
        first = broken.iloc[0] if len(broken) else None
        rows.append(
            {
                "run_id": run_id,
                "combo": group["combo"].iloc[0] if "combo" in group else "",
                "model": model,
                "layers": int(group["layer"].nunique()),
                "first_nonfinite": None if first is None else int(first["layer"]),
                "layer_name": "" if first is None else str(first["name"]),
            }
        )
    frame = pd.DataFrame(
        rows, columns=["run_id", "combo", "model", "layers", "first_nonfinite", "layer_name"]
    )
    frame["first_nonfinite"] = frame["first_nonfinite"].astype("Int64")
    return frame


def step_stats(stats):
    """The rows recorded during training (with a step)."""
    return stats[stats["step"].notna()]


def step_chart(stats, value: str = "std", log: bool | None = None):
    """One statistic per layer over training steps (one line per layer), for the
    stats of one run and model as returned by :func:`step_stats`."""
    import altair as alt

    log = VALUES.get(value, False) if log is None else log
    data = _plottable(stats, value, log)
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=step_axis(data["step"]),
            y=alt.Y(f"{value}:Q", scale=scale, title=f"{value}{' (log)' if log else ''}"),
            color=alt.Color("layer:O", title="layer"),
            tooltip=["layer", "name", "step", alt.Tooltip(f"{value}:Q", format=".4g")],
        )
        .properties(title=f"activation {value} per layer during training", height=280)
    )
