"""Telemetry page logic: 06_cuda_cnn_hooks_init's "colorful dimension" plot and the
fraction of activations near zero, from the ``activation_histograms`` rows of a run.

Input: the frame of :func:`scratchlab.db.histograms.activation_histograms`
(``run_id, model, layer, name, step, lo, hi, counts, frac_near_zero``, counts a
list of ints per row). Charts are Altair; nothing here imports Streamlit or torch.
"""

from __future__ import annotations

import math

from scratchlab.reports.views.common import step_axis

#: most steps one heat map draws; longer runs are thinned evenly (first and last kept)
MAX_STEPS = 200


def layer_names(histograms) -> list[str]:
    """The layers that have histograms, in layer order."""
    ordered = histograms.drop_duplicates("name").sort_values("layer")
    return [str(n) for n in ordered["name"]]


def thinned_steps(steps, max_steps: int = MAX_STEPS) -> list[int]:
    """At most ``max_steps`` of the sorted distinct ``steps``, evenly spaced, first and last kept."""
    distinct = sorted({int(s) for s in steps})
    if len(distinct) <= max_steps:
        return distinct
    picks = {round(i * (len(distinct) - 1) / (max_steps - 1)) for i in range(max_steps)}
    return [distinct[i] for i in sorted(picks)]


def heatmap_frame(histograms, layer: str, max_steps: int = MAX_STEPS):
    """One layer's histograms as long rows ``step, value, count, log_count``: ``value`` is the
    centre of each bin, ``log_count`` the lessons' ``log1p`` of the count (so the few large
    values stay visible next to a spike of zeros)."""
    import pandas as pd

    rows = histograms[(histograms["name"] == layer) & histograms["step"].notna()]
    keep = set(thinned_steps(rows["step"], max_steps))
    records = []
    for row in rows.itertuples(index=False):
        if int(row.step) not in keep:
            continue
        width = (row.hi - row.lo) / len(row.counts)
        for index, count in enumerate(row.counts):
            records.append(
                (int(row.step), row.lo + (index + 0.5) * width, int(count), math.log1p(count))
            )
    return pd.DataFrame.from_records(records, columns=["step", "value", "count", "log_count"])


def occupied_bins(frame):
    """The rows of a :func:`heatmap_frame` from its lowest to its highest bin that
    holds any count at any step: a ReLU layer's activations are never below zero,
    so the empty lower half of the recorded range is left out of the chart."""
    occupied = frame.loc[frame["count"] > 0, "value"]
    if occupied.empty:
        return frame
    return frame[frame["value"].between(occupied.min(), occupied.max())]


def colorful_chart(frame, layer: str):
    """The "colorful dimension": step across, activation value up (the bins that ever
    hold a count: :func:`occupied_bins`), colour the log count."""
    import altair as alt

    width = float(frame["value"].diff().abs().min()) if len(frame) > 1 else 1.0
    frame = occupied_bins(frame)
    return (
        alt.Chart(frame.assign(top=frame["value"] + width / 2, bottom=frame["value"] - width / 2))
        .mark_rect()
        .encode(
            x=alt.X("step:O", title="step", axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("bottom:Q", title="activation"),
            y2="top:Q",
            color=alt.Color(
                "log_count:Q", title="log(1 + count)", scale=alt.Scale(scheme="viridis")
            ),
            tooltip=["step", alt.Tooltip("value:Q", format=".2f"), "count"],
        )
        .properties(title=f"{layer}: histogram of activations per step", height=220)
    )


def near_zero_frame(histograms):
    """``name, step, frac_near_zero`` for every layer, ordered by layer and step."""
    rows = histograms[histograms["step"].notna()].sort_values(["layer", "step"])
    return rows[["name", "step", "frac_near_zero"]].astype({"step": int}).reset_index(drop=True)


def near_zero_chart(frame):
    """The fraction of activations near zero against step, a line per layer (06's ``get_min``)."""
    import altair as alt

    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=step_axis(frame["step"]),
            y=alt.Y("frac_near_zero:Q", title="fraction near zero", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("name:N", title="layer", sort=None),
            tooltip=["name", "step", alt.Tooltip("frac_near_zero:Q", format=".3f")],
        )
        .properties(title="fraction of activations near zero", height=260)
    )


def final_fractions(histograms):
    """Each layer's near-zero fraction at its last recorded step: ``name, step, frac_near_zero``."""
    frame = near_zero_frame(histograms)
    return frame.groupby("name", sort=False).tail(1).reset_index(drop=True)
