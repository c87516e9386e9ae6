"""Training page logic: loss and accuracy curves per configuration with
replicates (``--repeat``) aggregated as a mean with a confidence band, and the
final metrics (samples/s included) side by side.

Input frames: ``metrics`` (``[run_id, name, step, value]``, already
down-sampled by the query), ``final_metrics`` (``[run_id, name, value]``) and
``list_runs`` (for what each run was).
"""

from __future__ import annotations

import math

from scratchlab.reports.views.common import REPLICATE_COLUMNS, param_columns, text_value

#: confidence level of the band around a mean curve
CONFIDENCE = 0.95


def config_labels(runs):
    """``[run_id, config]``: each run named by the settings that differ between the
    runs shown (``activation=tanh, lr=0.1``), replicates (seed, repeat) left out so
    they share a name; the experiment's name when nothing differs."""
    import pandas as pd

    candidates = ["experiment", "device", "dtype", *param_columns(runs)]
    candidates = [c for c in candidates if c in runs.columns and c not in REPLICATE_COLUMNS]
    texts = runs[candidates].map(setting_text) if candidates else runs[[]]
    varying = [c for c in candidates if texts[c].nunique() > 1]
    if varying:
        # a run shows only the settings it has: an init-stats run has no lr
        labels = texts[varying].apply(lambda row: ", ".join(f"{c}={row[c]}" for c in varying if row[c]), axis=1)
    else:
        labels = runs["experiment"].astype(str) if "experiment" in runs else "run"
    return pd.DataFrame({"run_id": runs["run_id"].to_numpy(), "config": list(labels)})


def setting_text(value) -> str:
    """A setting as written in a configuration's name: missing as ``""``, a whole
    float as an int (a param column holding NaN for other runs turns ``64`` into ``64.0``)."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return text_value(value)


def aggregate_repeats(metrics, runs, confidence: float = CONFIDENCE):
    """Mean of each metric per configuration and step over its replicate runs, with
    ``lo``/``hi``: a Student-t confidence interval of the mean (zero width for a single
    run). Columns: ``config, name, step, mean, lo, hi, runs``. Rows without a step
    (final values) are left to :func:`final_table`."""
    import numpy as np
    from scipy.stats import t

    data = metrics[metrics["step"].notna()].merge(config_labels(runs), on="run_id", how="left")
    grouped = data.groupby(["config", "name", "step"], sort=True)["value"]
    agg = grouped.agg(mean="mean", std="std", runs="count").reset_index()
    n = agg["runs"].astype(float)
    # t quantile needs n - 1 >= 1; a lone run gets no band rather than NaN
    quantile = np.where(n > 1, t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)), 0.0)
    half = np.where(n > 1, quantile * agg["std"].fillna(0) / np.sqrt(n), 0.0)
    agg["lo"] = agg["mean"] - half
    agg["hi"] = agg["mean"] + half
    return agg.drop(columns="std")


def default_curves(names: list[str]) -> list[str]:
    """The metrics plotted before the user picks any: losses and accuracies."""
    chosen = [n for n in names if "loss" in n.lower() or "acc" in n.lower()]
    return chosen or names[:2]


def curve_chart(aggregated, name: str, log: bool = False):
    """One metric against step: a line per configuration (the mean over its
    replicates) over a band (the confidence interval)."""
    import altair as alt

    data = aggregated[aggregated["name"] == name]
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    base = alt.Chart(data).encode(
        x=alt.X("step:Q", title="step"),
        color=alt.Color("config:N", title="configuration", legend=alt.Legend(labelLimit=420)),
    )
    band = base.mark_area(opacity=0.25).encode(y=alt.Y("lo:Q", scale=y_scale, title=name), y2="hi:Q")
    # points too: a one-epoch run has a single valid_accuracy value, which a bare line would not draw
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", scale=y_scale, title=name),
        tooltip=["config", "step", alt.Tooltip("mean:Q", format=".4g"), "runs",
                 alt.Tooltip("lo:Q", format=".4g"), alt.Tooltip("hi:Q", format=".4g")],
    )
    return alt.layer(band, line).properties(
        title=f"{name} (mean over repeats, {int(CONFIDENCE * 100)}% band)", height=300
    )


def final_table(final, runs):
    """Final metrics, one row per run and one column per metric, each run named by its configuration."""
    # pivot, not pivot_table: a NaN final value (a diverged loss) must stay visible
    wide = final.drop_duplicates(["run_id", "name"], keep="last").pivot(index="run_id", columns="name", values="value")
    wide.columns.name = None
    labelled = config_labels(runs).merge(wide.reset_index(), on="run_id", how="inner")
    return labelled.sort_values(["config", "run_id"]).reset_index(drop=True)


def final_summary(final, runs):
    """Final metrics per configuration over its replicates: ``<metric> mean`` and
    ``<metric> std`` columns plus ``runs``."""
    table = final_table(final, runs)
    metrics = [c for c in table.columns if c not in ("run_id", "config")]
    grouped = table.groupby("config", sort=True)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric} {stat}" for metric, stat in summary.columns]
    summary.insert(0, "runs", grouped.size())
    return summary.reset_index()
