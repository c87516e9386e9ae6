"""One run in full, from ``queries.run_summary``: what ran, its timings, a
summary of its activation statistics, its final metrics and its error.
Used by ``runner show`` and the Compare page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scratchlab.reports.views.common import RUN_COLUMNS, error_summary

#: timing columns ``runner show`` lists
TIMING_FIELDS: tuple[str, ...] = (
    "label",
    "shape",
    "n",
    "median",
    "iqr",
    "min",
    "gflops",
    "threads",
    "quality",
)


def stats_summary(stats):
    """Per model: layers, the std of the first and last layer, the largest std,
    the largest fraction of zeros, and the first layer with non-finite values."""
    import numpy as np
    import pandas as pd

    rows = []
    for model, group in stats.sort_values("layer").groupby("model", sort=True):
        std = group["std"].astype(float)
        bad = group[(group["frac_nonfinite"].fillna(0) > 0) | ~np.isfinite(std)]
        rows.append(
            {
                "model": model,
                "layers": int(group["layer"].nunique()),
                "first_std": float(std.iloc[0]),
                "last_std": float(std.iloc[-1]),
                "max_std": float(std.max()),
                "max_frac_zero": float(group["frac_zero"].max()),
                "first_nonfinite": None if bad.empty else str(bad["name"].iloc[0]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "layers",
            "first_std",
            "last_std",
            "max_std",
            "max_frac_zero",
            "first_nonfinite",
        ],
    )


@dataclass
class RunDetail:
    """A run summary prepared for display: plain fields plus small frames."""

    run: dict[str, Any]
    components: dict[str, str]
    component_versions: dict[str, str]
    params: dict[str, Any]
    timings: Any
    stats: Any
    metrics: dict[str, float]

    @property
    def reason(self) -> str | None:
        """The skip reason, timeout message or traceback, if any."""
        return self.run.get("reason")

    @property
    def error(self) -> str:
        """The reason's telling line (the exception for a traceback)."""
        return error_summary(self.reason)

    def payload(self) -> dict[str, Any]:
        """The JSON form of ``runner show --json``."""
        from scratchlab.reports.export import NONFINITE_KEY, json_value, nonfinite_names, records

        return {
            "run": {k: json_value(v) for k, v in self.run.items()},
            "components": self.components,
            "component_versions": self.component_versions,
            "params": {k: json_value(v) for k, v in self.params.items()},
            "timings": records(self.timings),
            "stats": records(self.stats),
            "metrics": {k: json_value(v) for k, v in self.metrics.items()},
            # the metrics that were NaN or infinite (null above: JSON has no such numbers)
            NONFINITE_KEY: nonfinite_names(self.metrics),
            "error": self.error or None,
        }


def run_detail(summary: Mapping[str, Any]) -> RunDetail:
    """Turn ``queries.run_summary``'s dict into a :class:`RunDetail`."""
    run = {k: summary.get(k) for k in (*RUN_COLUMNS, "sweep_name", "note")}
    run["tags"] = ", ".join(summary.get("tags") or []) or None
    timings = summary["timings"]
    return RunDetail(
        run=run,
        components=dict(summary.get("components") or {}),
        component_versions=dict(summary.get("component_versions") or {}),
        params=dict(summary.get("params") or {}),
        timings=timings[[c for c in TIMING_FIELDS if c in timings.columns]].reset_index(drop=True),
        stats=stats_summary(summary["stats"]),
        metrics=dict(summary.get("metrics") or {}),
    )


def summary_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run summary as one ``list_runs``-style row: run columns, then component
    choices by category and params by name."""
    return {
        **{k: summary.get(k) for k in RUN_COLUMNS},
        **dict(summary.get("components") or {}),
        **dict(summary.get("params") or {}),
    }
