"""Compare page logic: chosen runs side by side, showing only the settings in
which they differ and every metric and timing they recorded."""

from __future__ import annotations

import math

from scratchlab.reports.filters import category_columns
from scratchlab.reports.views.common import param_columns, text_value

#: run columns that can differ between compared runs, besides the params
SETTING_COLUMNS: tuple[str, ...] = (
    "sweep_id",
    "experiment",
    "status",
    "device",
    "dtype",
    "seed",
    "repeat",
)

#: shown for a setting a run does not have
MISSING = "—"


def run_header(run_ids) -> list[str]:
    """Column names for runs: ``run 12``."""
    return [f"run {int(r)}" for r in run_ids]


def differing_settings(runs):
    """One row per setting (run column or param) whose value is not the same for
    every run in ``runs``; one column per run, values as text. Empty when the
    runs are identical in everything but their id."""
    import pandas as pd

    runs = runs.sort_values("run_id")
    columns = [c for c in (*SETTING_COLUMNS, *param_columns(runs)) if c in runs.columns]
    rows = {}
    for column in columns:
        values = [
            MISSING if v is None or (isinstance(v, float) and v != v) else text_value(v)
            for v in runs[column]
        ]
        if len(set(values)) > 1:
            rows[column] = values
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=run_header(runs["run_id"]))
    frame.index.name = "setting"
    return frame.reset_index()


def side_by_side(frame, row: str, run_ids):
    """Pivot ``[run_id, <row>, value]`` rows into one row per ``row`` value and one
    column per run (in the order of ``run_ids``); missing values stay empty."""
    import pandas as pd

    header = run_header(run_ids)
    if frame.empty:
        return pd.DataFrame(columns=[row, *header])
    # pivot, not pivot_table: NaN values (a diverged loss) must stay visible
    wide = frame.drop_duplicates([row, "run_id"], keep="last").pivot(
        index=row, columns="run_id", values="value"
    )
    wide = wide.reindex(columns=list(run_ids))
    wide.columns = header
    return wide.reset_index()


def metrics_side_by_side(final, run_ids):
    """Every final metric (rows) of the chosen runs (columns)."""
    return side_by_side(final.rename(columns={"name": "metric"}), "metric", run_ids)


def timings_side_by_side(timings, run_ids):
    """Every timing's median in seconds (rows: ``label shape device``) of the chosen runs (columns)."""
    frame = timings.copy()
    frame["timing"] = (
        frame["label"].astype(str)
        + " "
        + frame["shape"].fillna("").astype(str)
        + " "
        + frame["device"].fillna("").astype(str)
    ).str.strip()
    return side_by_side(
        frame.rename(columns={"median": "value"})[["run_id", "timing", "value"]], "timing", run_ids
    )


def from_summaries(summaries):
    """``(runs, final, timings)`` frames for the chosen runs, built from their
    ``run_summary`` dicts (one query per run: a comparison holds a handful)."""
    import pandas as pd

    from scratchlab.reports.views.detail import summary_row

    runs = pd.DataFrame([summary_row(s) for s in summaries])
    final = pd.DataFrame(
        [
            {"run_id": s["run_id"], "name": name, "value": value}
            for s in summaries
            for name, value in s["metrics"].items()
        ],
        columns=["run_id", "name", "value"],
    )
    frames = [s["timings"] for s in summaries if len(s["timings"])]
    timings = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["run_id", "label", "shape", "device", "median"])
    )
    return runs, final, timings


def run_labels(runs) -> dict[int, str]:
    """Picker labels: ``#12 matmul · einsum · done``."""
    categories = category_columns(runs)
    labels = {}
    for row in runs.to_dict("records"):
        parts = [
            str(row["experiment"]),
            *(str(row[c]) for c in categories if isinstance(row.get(c), str)),
            str(row["status"]),
        ]
        labels[int(row["run_id"])] = f"#{int(row['run_id'])} " + " · ".join(parts)
    return labels


#: Tableau's ten colours (Vega's ``tableau10``), in order: run i of a comparison gets colour i
PALETTE: tuple[str, ...] = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)


def run_colours(names: dict[int, str]):
    """One Altair colour scale for every chart of a comparison: each run keeps its
    colour (in the order the runs were chosen) in the bars and in the curves, whichever
    runs a chart has data for."""
    import altair as alt

    labels = list(names.values())
    return alt.Scale(domain=labels, range=[PALETTE[i % len(PALETTE)] for i in range(len(labels))])


def run_curves(points, names: dict[int, str] | None = None) -> dict:
    """``metrics`` points of the chosen runs as curves for
    :func:`scratchlab.reports.views.training.curve_chart`, one line per run (named by
    ``names``, else ``#12``): per metric name, ``(curves, over_epochs)``, a per-epoch
    metric's steps turned into epochs."""
    from scratchlab.reports.views import training

    frame = points[points["step"].notna()].copy()
    epochs = training.epoch_steps(frame)
    ids = frame["run_id"].astype(int)
    frame["config"] = [(names or {}).get(i, f"#{i}") for i in ids]
    frame["colour"], frame["dash"] = frame["config"], ""
    frame["mean"] = frame["lo"] = frame["hi"] = frame["value"].astype(float)
    frame["runs"] = 1
    result = {}
    for name in sorted(frame["name"].unique()):
        of_metric = frame[frame["name"] == name]
        over_epochs = training.per_epoch(frame, name, epochs)
        if over_epochs:
            of_metric = training.as_epochs(of_metric, epochs)
        of_metric = of_metric.assign(step=of_metric["step"].astype("int64"))
        result[name] = (
            of_metric[["config", "colour", "dash", "name", "step", "mean", "lo", "hi", "runs"]],
            over_epochs,
        )
    return result


def metrics_chart(final, run_ids, names: dict[int, str] | None = None):
    """Bars of every final metric, one small panel per metric (own y scale), one bar per
    run, coloured by :func:`run_colours` (as the curves are)."""
    import altair as alt

    names = names or {int(r): f"#{int(r)}" for r in run_ids}
    data = final[final["run_id"].isin(list(run_ids))].copy()
    data["run"] = [names.get(int(r), f"#{int(r)}") for r in data["run_id"]]
    data = data[data["value"].astype(float).map(math.isfinite)]
    order = [names.get(int(r), f"#{int(r)}") for r in run_ids]
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("run:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color(
                "run:N",
                scale=run_colours(names),
                legend=alt.Legend(title="run", orient="top", labelLimit=420, columns=2),
            ),
            tooltip=["run", "name", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=alt.Step(28), height=140)
        .facet(facet=alt.Facet("name:N", title=None), columns=5)
        .resolve_scale(y="independent")
        .properties(title="final metrics per run")
    )
