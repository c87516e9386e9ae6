"""Sweeps page logic: one row per sweep, and one sweep's command, environment
and counts by status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scratchlab.core.records import RUN_STATUSES
from scratchlab.reports.views.common import (
    STATUS_COLORS,
    command_line,
    flatten,
    format_duration,
    text_value,
)


def sweeps_table(sweeps):
    """The ``list_sweeps`` frame as shown: newest first, the command as one line,
    the duration readable, one count column per status that occurs."""
    frame = sweeps.copy()
    frame["command"] = frame["argv"].map(command_line)
    frame["duration"] = frame["duration_s"].map(format_duration)
    statuses = [s for s in RUN_STATUSES if s in frame and frame[s].fillna(0).astype(int).any()]
    columns = [
        "sweep_id",
        "name",
        "status",
        "started_at",
        "duration",
        "n_runs",
        *statuses,
        "command",
    ]
    return frame.sort_values("sweep_id", ascending=False)[columns].reset_index(drop=True)


def status_counts(sweep_row: Mapping[str, Any]):
    """One sweep's runs by status as ``[status, runs]``, every status listed."""
    import pandas as pd

    return pd.DataFrame(
        {"status": list(RUN_STATUSES), "runs": [int(sweep_row.get(s) or 0) for s in RUN_STATUSES]}
    )


def status_chart(counts):
    """Horizontal bars of runs per status, coloured like every other status in the app."""
    import altair as alt

    return (
        alt.Chart(counts[counts["runs"] > 0])
        .mark_bar()
        .encode(
            x=alt.X("runs:Q", title="runs"),
            y=alt.Y("status:N", sort=list(RUN_STATUSES), title=None),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values())),
                legend=None,
            ),
            tooltip=["status", "runs"],
        )
        .properties(height=alt.Step(22), title="runs by status")
    )


def environment_table(environment: Mapping[str, Any] | None):
    """A sweep's environment (python, torch, devices, CPU, git, packages) as
    ``[key, value]`` text rows with dotted keys, so it shows as a plain table."""
    import pandas as pd

    flat = flatten(environment or {})
    return pd.DataFrame({"key": list(flat), "value": [text_value(v) for v in flat.values()]})


def running_lines(sweeps) -> list[str]:
    """One line per running sweep, newest first: ``#12 main-job is running: 40 of 69
    runs finished`` (what the page says while it follows a sweep)."""
    finished = [s for s in RUN_STATUSES if s not in ("pending", "running")]
    running = sweeps[sweeps["status"] == "running"].sort_values("sweep_id", ascending=False)
    lines = []
    for row in running.to_dict("records"):
        done = sum(int(row.get(s) or 0) for s in finished)
        lines.append(
            f"#{row['sweep_id']} {text_value(row['name'])} is running: "
            f"{done} of {int(row['n_runs'])} runs finished"
        )
    return lines


def default_sweep(sweeps) -> int | None:
    """The sweep a page shows when none is chosen: the newest one."""
    if sweeps is None or sweeps.empty:
        return None
    return int(sweeps["sweep_id"].max())
