"""Checks page logic: the ``gradcheck`` experiment's verdicts as a grid of
activation x loss (the largest relative gradient error over every tensor,
pass or fail, NaN and inf marked), and the loss values side by side, where
the naive log-softmax overflows (``nll-naive`` NaN or inf with ``randn``
weights) and the log-sum-exp one stays finite.

Input: a ``list_runs`` frame of gradcheck runs with final metrics as columns
(``with_metrics=True``): ``<tensor>.max_rel_err``, ``passed`` and ``loss``.
"""

from __future__ import annotations

import math

#: the metric suffix of a gradient's relative error
REL_ERR = ".max_rel_err"

#: the losses the overflow comparison puts first, when present
OVERFLOW_PAIR: tuple[str, ...] = ("nll-naive", "nll-logsumexp")


def _verdict(row) -> str:
    if row["status"] != "done":
        return str(row["status"])
    error, passed = row["max_rel_err"], row.get("passed")
    if isinstance(error, float) and math.isnan(error):
        return "NaN"
    if isinstance(error, float) and math.isinf(error):
        return "inf"
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return "?"
    return "pass" if passed >= 1 else "FAIL"


def gradcheck_grid(runs):
    """One row per gradcheck run: ``run_id, init, activation, loss, max_rel_err``
    (the largest over every tensor; NaN when any is NaN), ``loss_value``, ``rtol``
    (the tolerance it was judged at),
    ``verdict`` (``pass``, ``FAIL``, ``NaN``, ``inf`` or the run's status such
    as ``skipped``) and ``log10_err`` for the colour (non-finite: NaN)."""
    import numpy as np
    import pandas as pd

    columns = [c for c in runs.columns if str(c).endswith(REL_ERR)]
    frame = pd.DataFrame(
        {
            "run_id": runs["run_id"].astype(int),
            "init": runs["init"].astype(str) if "init" in runs else "",
            "activation": runs["activation"].astype(str) if "activation" in runs else "",
            "loss": runs["loss"].astype(str) if "loss" in runs else "",
            "status": runs["status"].astype(str),
        }
    )
    errors = runs[columns].astype(float) if columns else pd.DataFrame(index=runs.index)
    # NaN anywhere wins: max() would skip it and hide the broken gradient
    worst = errors.max(axis=1, skipna=True) if columns else pd.Series(np.nan, index=runs.index)
    worst[errors.isna().any(axis=1) & (frame["status"] == "done").to_numpy()] = np.nan
    frame["max_rel_err"] = worst.to_numpy()
    frame["passed"] = runs["passed"].to_numpy() if "passed" in runs else np.nan
    # the loss's final value: list_runs suffixes it, the category ``loss`` being a column already
    frame["loss_value"] = (
        runs["loss_metric"].astype(float).to_numpy() if "loss_metric" in runs else np.nan
    )
    frame["rtol"] = runs["rtol"].astype(float).to_numpy() if "rtol" in runs else np.nan
    frame["verdict"] = [_verdict(row) for row in frame.to_dict("records")]
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.log10(frame["max_rel_err"].where(frame["max_rel_err"] > 0))
    frame["log10_err"] = logged.where(np.isfinite(logged))
    return frame.drop(columns="passed")


#: the tolerance a run's errors are coloured against when its runs stored none (gradcheck's rtol)
DEFAULT_RTOL = 1e-3
#: decades of relative error below and above the tolerance the colour scale spans
GOOD_DECADES, BAD_DECADES = 5, 3


def tolerance(grid) -> float:
    """The relative tolerance the grid's runs were judged at (their ``rtol`` param,
    the most common one), else :data:`DEFAULT_RTOL`."""
    if "rtol" in grid and grid["rtol"].notna().any():
        return float(grid["rtol"].dropna().astype(float).mode().iloc[0])
    return DEFAULT_RTOL


def heatmap(grid):
    """Activation (rows) x loss (columns) cells coloured by the log10 of the largest
    relative error on a fixed scale centred on the runs' tolerance (:func:`tolerance`): green well
    below it, yellow at it, red above (so passing checks never look red, whatever
    the spread of the errors), labelled with the verdict; one panel per init, stacked,
    every loss and init named."""
    import altair as alt

    rtol = tolerance(grid)
    middle = math.log10(rtol) if rtol > 0 else math.log10(DEFAULT_RTOL)
    low, high = middle - GOOD_DECADES, middle + BAD_DECADES
    base = alt.Chart(grid).encode(
        x=alt.X(
            "loss:N",
            title="loss",
            axis=alt.Axis(labelAngle=-35, orient="top", labelOverlap=False, labelLimit=0),
        ),
        y=alt.Y("activation:N", title=None, axis=alt.Axis(labelOverlap=False)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "log10_err:Q",
            title=["log10 max rel err", f"(tolerance {rtol:g})"],
            scale=alt.Scale(
                domain=[low, middle, high],
                range=["#1a9850", "#fee08b", "#d73027"],
                clamp=True,
                interpolate="lab",
            ),
        ),
        tooltip=[
            "init",
            "activation",
            "loss",
            alt.Tooltip("max_rel_err:Q", format=".3g"),
            "verdict",
            "run_id",
        ],
    )
    # white on the strong ends of the scale, dark on its light middle
    strong = f"isValid(datum.log10_err) && abs(datum.log10_err - ({middle})) > 2.5"
    text = base.mark_text(fontSize=12, fontWeight="bold").encode(
        text="verdict:N",
        color=alt.condition(strong, alt.value("white"), alt.value("#222222")),
    )
    layered = alt.layer(cells, text, data=grid).properties(width=alt.Step(90), height=alt.Step(26))
    header = alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold", labelLimit=0)
    return layered.facet(
        row=alt.Row("init:N", title="init / activation", header=header)
    ).properties(
        title="gradcheck: hand-written backward against autograd (largest relative error over x, w1, b1, w2, b2)"
    )


def overflow_table(grid, init: str | None = None):
    """The loss each run computed, one row per init x activation and one column per
    loss (:data:`OVERFLOW_PAIR` first), values as text so NaN and inf show: the
    naive log-softmax overflows where log-sum-exp stays finite."""
    frame = grid if init is None else grid[grid["init"] == init]
    if frame.empty:
        return frame[["init", "activation"]]
    # pivot, not pivot_table: the NaN of an overflow must stay
    wide = frame.drop_duplicates(["init", "activation", "loss"], keep="last").pivot(
        index=["init", "activation"], columns="loss", values="loss_value"
    )
    order = [c for c in OVERFLOW_PAIR if c in wide.columns] + sorted(
        c for c in wide.columns if c not in OVERFLOW_PAIR
    )
    wide = wide[order].map(lambda v: "NaN" if math.isnan(v) else f"{v:.6g}")
    wide.columns.name = None
    return wide.reset_index()


def overflowed(grid) -> list[tuple[str, str]]:
    """``(init, activation)`` pairs where some loss is non-finite while ``nll-logsumexp`` is finite."""
    found = []
    for (init, activation), group in grid.groupby(["init", "activation"]):
        values = dict(zip(group["loss"], group["loss_value"]))
        safe = values.get("nll-logsumexp")
        if safe is None or not math.isfinite(safe):
            continue
        if any(v is not None and not math.isfinite(v) for v in values.values()):
            found.append((init, activation))
    return found
