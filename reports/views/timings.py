"""Timings page logic: median time per component and shape with IQR, speed-up
against a baseline, GFLOP/s, and a two-sweep comparison that flags changes
beyond noise.

Input frames are those of ``scratchlab.db.queries.timings`` (one row per timed
operation, with the run's component choices as columns) and
``timing_replicates`` (every replicate, in seconds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scratchlab.db.results import TIMING_COLUMNS
from scratchlab.reports.filters import component_columns as _added_columns
from scratchlab.reports.views.common import flatten

#: the columns that say which operation a timing measured, besides the component
OPERATION_KEYS: tuple[str, ...] = ("label", "shape", "device")

#: (name, seconds per unit) from large to small; :func:`pick_unit` chooses one
UNITS: tuple[tuple[str, float], ...] = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))

#: environment keys whose difference makes two sweeps' timings hard to compare
ENVIRONMENT_TOKENS: tuple[str, ...] = ("cpu", "torch", "device", "cuda", "gpu", "processor")

#: significance level of the Mann-Whitney U test on replicates
ALPHA = 0.05

#: the most replicates a view pools; past this (a sweep of thousands of timing runs:
#: 300,000 replicates took 2.2 s to read and group) each configuration is summarised
#: by its runs' own medians and IQRs, which at that many runs say the same
MAX_POOLED_REPLICATES = 50_000


def pools_replicates(timings) -> bool:
    """Whether :func:`summarize` should pool every replicate of ``timings`` (their
    ``n`` adds up to at most :data:`MAX_POOLED_REPLICATES`)."""
    return bool(len(timings)) and float(timings["n"].fillna(0).sum()) <= MAX_POOLED_REPLICATES


def component_columns(timings) -> list[str]:
    """The component categories present as columns of a timings frame (every
    column ``queries.timings`` adds after its own: one per category, plugins' too)."""
    return _added_columns(timings, TIMING_COLUMNS)


def default_group(timings) -> str:
    """The column to compare along: the component category whose choice varies
    (``matmul`` first), else the timing label."""
    varying = [c for c in component_columns(timings) if timings[c].nunique(dropna=True) > 1]
    if "matmul" in varying:
        return "matmul"
    return varying[0] if varying else "label"


def _shape_order(shape: Any) -> tuple:
    """Sort ``"5x784x10"`` by its product then text, so small problems come first."""
    text = str(shape)
    try:
        size = math.prod(int(p) for p in text.split("x"))
    except ValueError:
        size = math.inf
    return (size, text)


def _keys(by: str) -> list[str]:
    return [by, *(k for k in OPERATION_KEYS if k != by)]


#: what :func:`summarize` gives each group, after its key columns
SUMMARY_STATS: tuple[str, ...] = (
    "noisy_runs",
    "median",
    "lo",
    "hi",
    "iqr",
    "min",
    "flops",
    "n_runs",
    "replicates",
)


def summarize(timings, by: str, replicates=None):
    """One row per ``by`` x label x shape x device: ``median``, ``lo``/``hi`` (the
    quartiles), ``iqr``, ``gflops``, ``n_runs`` and ``replicates`` (a list, empty
    when unknown).

    Repeated runs of one configuration are pooled: with ``replicates`` (the
    ``timing_replicates`` frame) the quartiles come from every replicate of every
    repeat; without, from the median of the runs' medians and IQRs.
    """
    import pandas as pd

    keys = _keys(by)
    by_timing: dict[int, list[float]] = {}
    if replicates is not None and not replicates.empty:
        by_timing = replicates.groupby("timing_id")["seconds"].apply(list).to_dict()
    groups = operation_timings(timings).groupby(keys, sort=False, dropna=False)
    rows = [
        {**dict(zip(keys, group_key)), **_group_stats(group, by_timing)}
        for group_key, group in groups
    ]
    summary = pd.DataFrame(rows, columns=[*keys, *SUMMARY_STATS])
    summary["gflops"] = summary["flops"] / summary["median"] / 1e9
    return _smallest_first(summary, by)


def operation_timings(timings):
    """``timings`` with an empty shape or device where none is stored, and each timing an
    experiment labels by its shape (matmul does) labelled by the experiment instead: it
    times one operation, so its shapes share one panel and row group."""
    frame = timings.copy()
    frame["shape"] = frame["shape"].fillna("")
    frame["device"] = frame["device"].fillna("")
    same = frame["label"].astype(str) == frame["shape"].astype(str)
    frame.loc[same, "label"] = frame.loc[same, "experiment"]
    return frame


def _group_stats(group, by_timing: Mapping[int, list[float]]) -> dict[str, Any]:
    """:data:`SUMMARY_STATS` of one group of timings: quartiles of every replicate of
    its timings (``by_timing``) when they are known, else the median of its runs'
    medians with the median of their IQRs around it."""
    import numpy as np

    pooled = [s for t in group["timing_id"] for s in by_timing.get(t, [])]
    if pooled:
        q1, median, q3 = np.percentile(pooled, [25, 50, 75])
    else:
        median = float(group["median"].median())
        half = float(group["iqr"].median()) / 2
        q1, q3 = median - half, median + half
    flops = group["flops"].dropna()
    quality = group.get("quality", ())
    return {
        "noisy_runs": int(sum(str(q) == "noisy" for q in quality)),
        "median": float(median),
        "lo": float(q1),
        "hi": float(q3),
        "iqr": float(q3 - q1),
        "min": float(group["min"].min()),
        "flops": float(flops.iloc[0]) if len(flops) else math.nan,
        "n_runs": int(group["run_id"].nunique()),
        "replicates": pooled,
    }


def _smallest_first(summary, by: str):
    """``summary``'s rows by shape (smallest problem first), then label, device and ``by``."""
    order = sorted(
        summary.index,
        key=lambda i: (
            _shape_order(summary.at[i, "shape"]),
            str(summary.at[i, "label"]),
            str(summary.at[i, "device"]),
            str(summary.at[i, by]),
        ),
    )
    return summary.loc[order].reset_index(drop=True)


def with_speedup(summary, by: str, baseline: str | None):
    """``summary`` plus ``speedup`` = baseline's median / this median for the same
    label, shape and device (above 1: faster than the baseline; NaN where the
    baseline has no timing)."""
    frame = summary.copy()
    if not baseline:
        frame["speedup"] = math.nan
        return frame
    others = [k for k in OPERATION_KEYS if k != by]
    base = frame.loc[frame[by].astype(str) == str(baseline), [*others, "median"]]
    base = base.rename(columns={"median": "baseline_median"})
    frame = frame.merge(base, on=others, how="left")
    frame["speedup"] = frame["baseline_median"] / frame["median"]
    return frame.drop(columns="baseline_median")


def pick_unit(seconds) -> tuple[str, float]:
    """The largest unit in which the smallest positive time is at least 1
    (``torch.utils.benchmark.Compare`` does the same): ``("µs", 1e-6)``."""
    values = [float(s) for s in seconds if s is not None and s > 0 and math.isfinite(s)]
    if not values:
        return UNITS[0]
    smallest = min(values)
    for name, scale in UNITS:
        if smallest >= scale:
            return name, scale
    return UNITS[-1]


#: a timing whose IQR is more than this fraction of its median is flagged on the page
#: (not db.quality.SPREAD_LIMIT, the much wider spread that makes a stored timing noisy)
FLAG_SPREAD = 0.10

#: the baseline the lessons compare against, when it was timed
LESSON_BASELINE = "python"


def default_baseline(timings, by: str) -> str | None:
    """The baseline a view opens with, stable from one refresh to the next: the
    lessons' ``python`` when it was timed, else the slowest choice over all shapes
    (the one slowest on most label x shape x device; ties: larger geometric-mean
    median). A noisy sweep can no longer make ``torch`` the baseline because one
    of its medians sat above another's on one shape."""
    import numpy as np

    values = timings[by].dropna().astype(str)
    if values.empty:
        return None
    if by != "label" and LESSON_BASELINE in set(values):
        return LESSON_BASELINE
    frame = timings.assign(**{by: timings[by].astype(str)})
    medians = frame.groupby([*OPERATION_KEYS, by], dropna=False)["median"].median().reset_index()
    slowest = medians.loc[
        medians.groupby(list(OPERATION_KEYS), dropna=False)["median"].idxmax(), by
    ]
    wins = slowest.value_counts()
    level = np.log(medians["median"].clip(lower=1e-300)).groupby(medians[by]).mean()
    ranked = sorted(level.index, key=lambda v: (-int(wins.get(v, 0)), -float(level[v]), v))
    return ranked[0]


def spread_flag(summary, limit: float = FLAG_SPREAD) -> list[str]:
    """Per row, why its time is not to be trusted as it stands: ``IQR 23% of median``
    when the spread is over ``limit``, ``stored noisy`` when the timing was stored
    with quality ``noisy`` (contention or drift seen while it was measured); ``""``."""
    flags = []
    for row in summary.to_dict("records"):
        parts = []
        median, iqr = row.get("median"), row.get("iqr")
        if (
            median
            and median > 0
            and iqr is not None
            and math.isfinite(iqr)
            and iqr / median > limit
        ):
            parts.append(f"IQR {iqr / median:.0%} of median")
        if row.get("noisy_runs"):
            parts.append("stored noisy")
        flags.append("⚠ " + ", ".join(parts) if parts else "")
    return flags


def timing_table(summary, by: str):
    """The summary as a display table: times in one readable unit, GFLOP/s, speed-up,
    and a ``flag`` on timings whose spread or stored quality makes them doubtful."""
    unit, scale = pick_unit(summary["median"])
    table = summary[[*_keys(by), "n_runs"]].copy()
    table[f"median ({unit})"] = summary["median"] / scale
    table[f"IQR ({unit})"] = summary["iqr"] / scale
    table["GFLOP/s"] = summary["gflops"]
    if "speedup" in summary:
        table["speed-up"] = summary["speedup"]
    table["flag"] = spread_flag(summary)
    return table


def in_unit(frame, columns: list[str], unit: tuple[str, float] | None = None):
    """``frame`` with the time ``columns`` (seconds) in ``unit`` (default: the one
    that suits all of them, :func:`pick_unit`), renamed ``<column> (<unit>)``: one
    unit per table."""
    unit, scale = unit or pick_unit([v for c in columns for v in frame[c]])
    converted = frame.copy()
    for column in columns:
        converted[column] = frame[column] / scale
    return converted.rename(columns={c: f"{c} ({unit})" for c in columns})


def timing_chart(summary, by: str):
    """Bars of the median time per shape (log axis), one bar per ``by`` value,
    with the IQR as an error bar; one panel per label and device when there are several."""
    import altair as alt

    unit, scale = pick_unit(summary["median"])
    data = summary.drop(columns="replicates").copy()
    for column in ("median", "lo", "hi"):
        data[column] = data[column] / scale
    # a log axis cannot show zero or negative times: such rows are left out of the chart only
    data = data[(data["median"] > 0) & (data["lo"] > 0)]
    data["panel"] = data["label"].astype(str) + " · " + data["device"].astype(str)
    # bars on a log axis need an explicit start: the default, zero, has no logarithm
    data["floor"] = 10.0 ** math.floor(math.log10(data["lo"].min())) if len(data) else 1.0
    shapes = sorted(data["shape"].unique(), key=_shape_order)
    y = alt.Y("shape:N", sort=shapes, title="shape")
    tooltip = [
        by,
        "shape",
        "label",
        "device",
        alt.Tooltip("median:Q", format=".4g", title=f"median ({unit})"),
        alt.Tooltip("gflops:Q", format=".3g", title="GFLOP/s"),
        "n_runs",
    ]
    if "speedup" in data:
        tooltip.append(alt.Tooltip("speedup:Q", format=".3g", title="speed-up"))
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("median:Q", scale=alt.Scale(type="log"), title=f"median time ({unit}, log)"),
            x2="floor:Q",
            y=y,
            yOffset=alt.YOffset(f"{by}:N"),
            color=alt.Color(f"{by}:N", title=by),
            tooltip=tooltip,
        )
    )
    errors = (
        alt.Chart()
        .mark_rule(color="black")
        .encode(
            x="lo:Q",
            x2="hi:Q",
            y=y,
            yOffset=alt.YOffset(f"{by}:N"),
        )
    )
    layered = alt.layer(bars, errors, data=data)
    if data["panel"].nunique() > 1:
        return layered.facet(row=alt.Row("panel:N", title=None)).resolve_scale(y="independent")
    return layered.properties(title=f"median time per {by} and shape (bars: median, rules: IQR)")


def compare_sweeps(before, after, by: str, alpha: float = ALPHA):
    """Join two :func:`summarize` results (``before``: the reference sweep) on
    ``by`` x label x shape x device and flag changes beyond noise.

    A change is flagged when the two IQRs do not overlap, or when the replicates
    of both (at least 3 each) differ by a two-sided Mann-Whitney U test at
    ``alpha``. Columns: the keys, ``median_before``, ``median_after``, ``ratio``
    (after / before: above 1 is slower), ``iqr_overlap``, ``p_value``,
    ``change`` (``slower``, ``faster`` or ``within noise``).
    """
    import pandas as pd
    from scipy.stats import mannwhitneyu

    keys = _keys(by)
    joined = before.merge(after, on=keys, suffixes=("_before", "_after"), how="inner")
    overlap = ~(
        (joined["hi_before"] < joined["lo_after"]) | (joined["hi_after"] < joined["lo_before"])
    )

    def p_value(row) -> float:
        a, b = row["replicates_before"], row["replicates_after"]
        if len(a) < 3 or len(b) < 3:
            return math.nan
        return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)

    p_values = joined.apply(p_value, axis=1) if len(joined) else pd.Series(dtype=float)
    changed = ~overlap | (p_values < alpha)
    ratio = joined["median_after"] / joined["median_before"]
    result = joined[keys].copy()
    result["median_before"] = joined["median_before"]
    result["median_after"] = joined["median_after"]
    result["ratio"] = ratio
    result["iqr_overlap"] = overlap
    result["p_value"] = p_values
    result["change"] = [
        ("slower" if r > 1 else "faster") if c else "within noise" for r, c in zip(ratio, changed)
    ]
    return result.reset_index(drop=True)


def environment_differences(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None):
    """The environment entries about CPU, torch and devices that differ between
    two sweeps, as ``[key, before, after]`` text rows (empty: comparable)."""
    import pandas as pd

    a, b = flatten(before or {}), flatten(after or {})
    rows = [
        {"key": key, "before": str(a.get(key, "")), "after": str(b.get(key, ""))}
        for key in sorted(set(a) | set(b))
        if any(token in key.lower() for token in ENVIRONMENT_TOKENS) and a.get(key) != b.get(key)
    ]
    return pd.DataFrame(rows, columns=["key", "before", "after"])
