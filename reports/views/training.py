"""Training page logic: loss and accuracy curves per configuration with
replicates (``--repeat``) aggregated as a mean with a confidence band, and the
final metrics (samples/s included) side by side.

Input frames: ``metrics`` (``[run_id, name, step, value]``, already
down-sampled by the query), ``final_metrics`` (``[run_id, name, value]``) and
``list_runs`` (for what each run was).
"""

from __future__ import annotations

import math

from scratchlab.reports.views.common import (
    REPLICATE_COLUMNS,
    param_columns,
    step_axis,
    text_value,
)

#: confidence level of the band around a mean curve
CONFIDENCE = 0.95


def config_labels(runs):
    """``[run_id, config, colour, dash]``: each run named by the settings that differ
    between the runs shown (``activation=tanh, lr=0.1``), replicates (seed, repeat)
    left out so they share a name; the experiment's name when nothing differs.

    ``colour`` and ``dash`` split the name in two for the charts: the setting with the
    most values is the colour, the next one the line's dash pattern (empty when
    fewer settings differ), so 7 inits x 4 strategies read as 7 colours x 4 dashes
    instead of 28 colours."""
    import pandas as pd

    candidates = ["experiment", "device", "dtype", *param_columns(runs)]
    candidates = [c for c in candidates if c in runs.columns and c not in REPLICATE_COLUMNS]
    texts = runs[candidates].map(setting_text) if candidates else runs[[]]
    # a setting only some runs have with one value (kaiming-normal.mode) is implied by another, not a difference
    varying = [
        c for c in candidates if texts[c].nunique() > 1 and texts[c][texts[c] != ""].nunique() > 1
    ]
    if varying:
        # a run shows only the settings it has: an init-stats run has no lr
        labels = _setting_of(texts, varying)
    else:
        labels = runs["experiment"].astype(str) if "experiment" in runs else "run"
    frame = pd.DataFrame({"run_id": runs["run_id"].to_numpy(), "config": list(labels)})
    by_count = sorted(varying, key=lambda c: -texts[c].nunique())
    frame["colour"] = list(_setting_of(texts, by_count[:1])) if by_count else list(frame["config"])
    frame["dash"] = list(_setting_of(texts, by_count[1:2])) if len(by_count) > 1 else ""
    if len(by_count) > 2:  # the rest of the name rides on the colour
        frame["colour"] = list(_setting_of(texts, [by_count[0], *by_count[2:]]))
    return frame


def _setting_of(texts, columns) -> list[str]:
    """``name=value, ...`` of ``columns`` per row (a list comprehension: ``DataFrame.apply``
    over rows took most of the Training page's time at 10,000 runs)."""
    values = [texts[c].tolist() for c in columns]
    return [
        ", ".join(f"{c}={v}" for c, v in zip(columns, row, strict=True) if v)
        for row in zip(*values, strict=True)
    ]


def setting_text(value) -> str:
    """A setting as written in a configuration's name: missing as ``""``, a whole
    float as an int (a param column holding NaN for other runs turns ``64`` into ``64.0``)."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return text_value(value)


def aggregate_repeats(metrics, runs, confidence: float = CONFIDENCE, labels=None):
    """Mean of each metric per configuration and step over its replicate runs, with
    ``lo``/``hi``: a Student-t confidence interval of the mean (zero width for a single
    run). Columns: ``config, colour, dash, name, step, mean, lo, hi, runs``. Rows
    without a step (final values) are left to :func:`final_table`. ``labels``:
    :func:`config_labels` of ``runs`` when the caller has them already."""
    import numpy as np
    from scipy.special import (
        stdtrit,  # Student's t quantile; importing scipy.stats costs 1.5 s more
    )

    labels = config_labels(runs) if labels is None else labels
    data = metrics[metrics["step"].notna()].merge(labels, on="run_id", how="left")
    grouped = data.groupby(["config", "colour", "dash", "name", "step"], sort=True)["value"]
    agg = grouped.agg(mean="mean", std="std", runs="count", least="min", most="max").reset_index()
    agg["step"] = agg["step"].astype("int64")
    n = agg["runs"].astype(float)
    # t quantile needs n - 1 >= 1; a lone run gets no band rather than NaN
    quantile = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.5 + confidence / 2), 0.0)
    half = np.where(n > 1, quantile * agg["std"].fillna(0) / np.sqrt(n), 0.0)
    # too few runs for an interval that means anything: the band is their range
    few = n < MIN_BAND_RUNS
    lo = np.where(few, agg["least"], agg["mean"] - half)
    hi = np.where(few, agg["most"], agg["mean"] + half)
    # a band never leaves what the metric can be: an accuracy below 0, a loss below 0
    low, high = zip(*(metric_range(n) for n in agg["name"]), strict=True) if len(agg) else ((), ())
    agg["lo"] = np.maximum(lo, np.array(low, float))
    agg["hi"] = np.minimum(hi, np.array(high, float))
    return agg.drop(columns=["std", "least", "most"])


def metric_range(name: str) -> tuple[float, float]:
    """``(low, high)`` a metric can take, by a word in its name: accuracies and
    fractions lie in [0, 1]; losses, times (``*_s``) and rates (``*per_s``) are never
    negative; anything else is unbounded."""
    lowered = name.lower()
    if "acc" in lowered or "frac" in lowered:
        return (0.0, 1.0)
    if "loss" in lowered or lowered.endswith("_s"):
        return (0.0, math.inf)
    return (-math.inf, math.inf)


#: fewest runs per configuration whose t band says something (at 2 it is 12.7
#: standard errors wide): below it the band is the runs' range
MIN_BAND_RUNS = 3


def band_note(aggregated) -> str | None:
    """What a reader must know about the bands: the range of too few runs for a
    confidence interval to mean much; None when every configuration has enough runs
    for a t interval, or one run each (no band: the title says so)."""
    from scipy.special import stdtrit

    if aggregated.empty:
        return None
    fewest, most = int(aggregated["runs"].min()), int(aggregated["runs"].max())
    if most <= 1 or fewest >= MIN_BAND_RUNS:  # no band at all, or bands worth their name
        return None
    t = float(stdtrit(1, 0.5 + CONFIDENCE / 2))
    return (
        f"{fewest} run{'s' if fewest > 1 else ''} in some configurations: too few for a "
        f"{int(CONFIDENCE * 100)}% interval to mean much (at 2 runs it spans ±{t:.1f} standard "
        f"errors), so their band is the range of the runs; repeat more (--repeat {MIN_BAND_RUNS + 2})"
    )


#: how far beyond the lines' own extent a band may stretch the y axis, as a share of it
BAND_MARGIN = 0.5


def band_domain(data, log: bool = False) -> tuple[float, float] | None:
    """The y axis a chart of ``data`` (``mean``, ``lo``, ``hi``) needs: the lines'
    extent, widened by their bands by at most :data:`BAND_MARGIN` of it each way,
    so a wide band from two runs cannot shrink every line to a flat stroke."""
    import numpy as np

    means = data["mean"].to_numpy(float)
    means = means[np.isfinite(means) & ((means > 0) if log else True)]
    if not len(means):
        return None
    scale = np.log10 if log else (lambda v: v)
    low, high = float(scale(means.min())), float(scale(means.max()))
    margin = BAND_MARGIN * max(high - low, abs(high) * 0.1, 1e-9)
    bands = data[["lo", "hi"]].to_numpy(float)
    bands = bands[np.isfinite(bands).all(axis=1) & ((bands > 0).all(axis=1) if log else True)]
    if len(bands):
        low = max(min(low, float(scale(bands[:, 0].min()))), low - margin)
        high = min(max(high, float(scale(bands[:, 1].max()))), high + margin)
    return (10**low, 10**high) if log else (low, high)


#: the metric every epoch records once (train): its steps mark where epochs end
EPOCH_MARKER = "epoch_time_s"


def epoch_steps(metrics) -> dict[int, list[int]]:
    """Per run, the steps at which its epochs ended (those of :data:`EPOCH_MARKER`), in order."""
    marks = metrics[(metrics["name"] == EPOCH_MARKER) & metrics["step"].notna()]
    return {
        int(run): sorted(int(s) for s in group["step"]) for run, group in marks.groupby("run_id")
    }


def per_epoch(metrics, name: str, epochs: dict[int, list[int]]) -> bool:
    """True when every point of metric ``name`` sits at an epoch's end (valid_loss,
    valid_accuracy): such a metric is drawn over epochs, not over steps."""
    points = metrics[(metrics["name"] == name) & metrics["step"].notna()]
    if points.empty or name == EPOCH_MARKER or not epochs:
        return name == EPOCH_MARKER and bool(epochs)
    return all(
        int(step) in set(epochs.get(int(run), ()))
        for run, step in zip(points["run_id"], points["step"])
    )


def as_epochs(metrics, epochs: dict[int, list[int]]):
    """``metrics`` with each step replaced by the number of the epoch that ended there (1, 2, ...)."""
    frame = metrics.copy()
    frame["step"] = [
        epochs[int(r)].index(int(s)) + 1 for r, s in zip(frame["run_id"], frame["step"])
    ]
    return frame


def default_curves(names: list[str]) -> list[str]:
    """The metrics plotted before the user picks any: losses and accuracies."""
    chosen = [n for n in names if "loss" in n.lower() or "acc" in n.lower()]
    return chosen or names[:2]


#: how far beyond the quartiles of every curve's values ``clip`` lets the y axis reach
OUTLIER_IQRS = 3.0


def y_range(values, log: bool = False) -> tuple[float, float] | None:
    """A y range that leaves out outliers (Tukey's fences at :data:`OUTLIER_IQRS`
    interquartile ranges, on log10 values for a log axis), or None when nothing
    lies outside: randn's loss of 200 then no longer flattens every other curve."""
    import numpy as np

    data = np.asarray(
        [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)], float
    )
    if len(data) < 4:
        return None
    scaled = np.log10(data) if log else data
    q1, q3 = np.percentile(scaled, [25, 75])
    spread = max(q3 - q1, 1e-12)
    lo, hi = (
        max(scaled.min(), q1 - OUTLIER_IQRS * spread),
        min(scaled.max(), q3 + OUTLIER_IQRS * spread),
    )
    if lo <= scaled.min() and hi >= scaled.max():
        return None
    return (10**lo, 10**hi) if log else (float(lo), float(hi))


def curve_chart(
    aggregated,
    name: str,
    log: bool = False,
    clip: bool = False,
    x_title: str = "step",
    colours=None,
):
    """One metric against step (or epoch): a line per configuration (the mean over
    its replicates) over a band (the confidence interval).

    Configurations are told apart by colour and dash (:func:`config_labels`), every
    one in the legend. On a ``log`` axis points at or below zero are left out and the
    band's lower edge is clipped to the line, so the band never reaches zero. ``clip``
    limits the y axis to :func:`y_range` (outliers drawn at the edge). The x axis is
    whole numbers; the chart zooms and pans with the mouse (double-click resets).
    ``colours`` (an ``alt.Scale``) fixes each configuration's colour, so that another
    chart of the same runs can match it."""
    import altair as alt

    data, domain, clipped = curve_data(aggregated, name, log, clip)
    y_scale = alt.Scale(
        type="log" if log else "linear",
        zero=False,
        nice=False,
        **({"domain": list(domain)} if domain else {}),
    )
    colours = colours or alt.Scale(
        scheme="tableau10" if data["colour"].nunique() <= 10 else "tableau20"
    )
    dashed = data["dash"].astype(str).str.len().gt(0).any()
    steps = sorted(data["step"].unique())
    base = alt.Chart(data).encode(x=step_axis(steps, x_title))
    y_title = f"{name}{' (log)' if log else ''}"
    band = _band_layer(base, data, y_scale, y_title, colours)
    line = base.mark_line(point=len(steps) <= 30, clip=True).encode(
        y=alt.Y("mean:Q", scale=y_scale, title=y_title, axis=alt.Axis(format=".4~g")),
        detail="config:N",
        **_configuration_encoding(colours, dashed),
        tooltip=_line_tooltip(x_title),
    )
    # independent legends: the lines' legend alone is drawn (the band's is off)
    chart = alt.layer(band, line).resolve_legend(color="independent", strokeDash="independent")
    heading = curve_heading(data, name, clipped)
    return chart.properties(title=heading, height=legend_height(data, dashed)).interactive()


def curve_data(aggregated, name: str, log: bool, clip: bool):
    """``(rows, y domain, clipped)`` of :func:`curve_chart`: the rows of metric ``name``
    (on a ``log`` axis only positive means, the band's lower edge no lower than the
    line's when it is not positive), the y axis they need (:func:`y_range` with
    ``clip``, which then says whether it left outliers out, else :func:`band_domain`)
    and the band clipped to that axis, so the band never sets it."""
    import numpy as np

    data = aggregated[aggregated["name"] == name].copy()
    if log:
        data = data[data["mean"] > 0]
        data["lo"] = np.where(data["lo"] > 0, data["lo"], data["mean"])
    clipped = y_range(data["mean"], log) if clip else None
    domain = clipped or band_domain(data, log)
    if domain:
        data["lo"] = data["lo"].clip(lower=domain[0], upper=domain[1])
        data["hi"] = data["hi"].clip(lower=domain[0], upper=domain[1])
    return data, domain, clipped


#: legend symbols drawn as lines: a dash pattern drawn on a dot reads as a dot
LINE_SYMBOLS = {"symbolType": "stroke", "symbolStrokeWidth": 2.5, "symbolSize": 500}


def _configuration_encoding(colours, dashed: bool) -> dict:
    """The lines' ``color`` (and with ``dashed``, ``strokeDash``) encodings: every
    configuration in the legend, drawn as a line."""
    import altair as alt

    legend = alt.Legend(labelLimit=420, symbolLimit=0, orient="right", **LINE_SYMBOLS)
    title = "configuration" if not dashed else None
    encoding = {"color": alt.Color("colour:N", title=title, legend=legend, scale=colours)}
    if dashed:
        encoding["strokeDash"] = alt.StrokeDash(
            "dash:N",
            title=None,
            # black dashes; the point overlay would otherwise fill the symbol and hide its stroke
            legend=alt.Legend(
                symbolLimit=0,
                labelLimit=420,
                symbolStrokeColor="#333333",
                symbolFillColor="transparent",
                symbolOpacity=1,
                **LINE_SYMBOLS,
            ),
        )
    return encoding


def _band_layer(base, data, y_scale, y_title: str, colours):
    """The confidence bands, one per configuration, with no legend of their own (the
    band's opacity would fade the legend's symbols); many overlapping bands would
    hide the lines, so they are fainter the more there are."""
    import altair as alt

    opacity = 0.2 if data["config"].nunique() <= BAND_CONFIGS else 0.06
    return base.mark_area(opacity=opacity, clip=True).encode(
        y=alt.Y("lo:Q", scale=y_scale, title=y_title),
        y2="hi:Q",
        detail="config:N",
        color=alt.Color("colour:N", legend=None, scale=colours),
    )


def _line_tooltip(x_title: str) -> list:
    """What hovering a point of a mean line shows."""
    import altair as alt

    return [
        "config",
        alt.Tooltip("step:Q", title=x_title, format="d"),
        alt.Tooltip("mean:Q", format=".4g"),
        "runs",
        alt.Tooltip("lo:Q", format=".4g"),
        alt.Tooltip("hi:Q", format=".4g"),
    ]


def curve_heading(data, name: str, clipped):
    """The chart's title: the metric, whether its lines are means with a band (and at
    what confidence) or single runs, whether outliers were clipped, and
    :func:`band_note` as a subtitle when there is one."""
    import altair as alt

    single = data.empty or int(data["runs"].max()) <= 1
    title = (
        f"{name} (one run per configuration)"
        if single
        else f"{name} (mean over repeats, {int(CONFIDENCE * 100)}% band)"
    )
    if clipped:
        title += ", outliers clipped"
    note = band_note(data)
    return alt.TitleParams(title, subtitle=[note]) if note else title


#: configurations up to which bands are drawn at full strength
BAND_CONFIGS = 8
#: pixels one legend entry takes in the app (its font and symbol), and a legend's gap
LEGEND_ENTRY_PX = 30
LEGEND_GAP_PX = 40


def legend_height(data, dashed: bool) -> int:
    """A chart height that holds every legend entry: Streamlit fits a chart, legends
    included, into its height, so a taller legend is cut off (the last inits, the
    whole dash legend)."""
    entries = data["colour"].nunique() + (data["dash"].nunique() if dashed else 0)
    return max(320, LEGEND_ENTRY_PX * entries + LEGEND_GAP_PX * (2 if dashed else 1))


def final_table(final, runs):
    """Final metrics, one row per run and one column per metric, each run named by its configuration."""
    # pivot, not pivot_table: a NaN final value (a diverged loss) must stay visible
    wide = final.drop_duplicates(["run_id", "name"], keep="last").pivot(
        index="run_id", columns="name", values="value"
    )
    wide.columns.name = None
    labelled = config_labels(runs)[["run_id", "config"]].merge(
        wide.reset_index(), on="run_id", how="inner"
    )
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
