"""Terminal output of ``runner sweeps`` and ``runner importance``: plain rows that fit
the width they are printed at (80 columns included), every stored string printed as
text (:func:`scratchlab.core.textsafe.printable`), never read as markup."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from scratchlab.core.records import RUN_STATUSES
from scratchlab.core.textsafe import printable
from scratchlab.reports.terminal import STATUS_STYLES
from scratchlab.reports.views.common import format_duration
from scratchlab.reports.views.training import setting_text

#: the bar of ``runner importance``: full blocks and the eighths of one
BAR_BLOCKS = " ▏▎▍▌▋▊▉█"
#: the narrowest bar drawn (a narrower terminal still gets the numbers)
MIN_BAR = 10
#: the longest name shown whole in the importance rows
MAX_NAME = 28


def status_counts(row: Mapping[str, Any]) -> str:
    """``"62 done, 7 skipped"``: a ``list_sweeps`` row's non-zero counts, in status order."""
    parts = [f"{int(row[s])} {s}" for s in RUN_STATUSES if int(row.get(s) or 0)]
    return ", ".join(parts) or "no runs"


def started_text(value: Any) -> str:
    """A start time as ``2026-12-03 10:58`` (UTC; the column says so)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        return value.strftime("%Y-%m-%d %H:%M")
    except (AttributeError, ValueError):  # NaT
        return ""


def sweep_records(sweeps, tags: Mapping[int, Sequence[str]]) -> list[dict[str, Any]]:
    """One JSON-ready dict per sweep: id, name, status, tags, counts per status,
    start (ISO, UTC), duration in seconds (None while running) and argv."""
    records = []
    for row in sweeps.to_dict("records"):
        duration = row["duration_s"]
        records.append(
            {
                "sweep_id": int(row["sweep_id"]),
                "name": row["name"],
                "status": row["status"],
                "tags": list(tags.get(int(row["sweep_id"]), [])),
                "runs": int(row["n_runs"]),
                "counts": {s: int(row[s]) for s in RUN_STATUSES},
                "started_at": None
                if not started_text(row["started_at"])
                else row["started_at"].isoformat(),
                "duration_s": None if duration is None or math.isnan(duration) else float(duration),
                "argv": row["argv"],
            }
        )
    return records


def sweeps_table(sweeps, tags: Mapping[int, Sequence[str]]) -> Table:
    """``runner sweeps``: a row per sweep (id, name with its tags, status, runs per
    status, start, duration). Name and counts wrap inside their columns, so the table
    fits any width from 80 columns up; the status is coloured like everywhere else."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=3)
    table.add_column("status", no_wrap=True)
    table.add_column("runs", overflow="fold", ratio=2)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for row in sweeps.to_dict("records"):
        name = Text(printable(str(row["name"])))
        own = tags.get(int(row["sweep_id"]), [])
        if own:
            name.append(" [" + ", ".join(printable(t) for t in own) + "]", style="cyan")
        status = str(row["status"])
        table.add_row(
            str(int(row["sweep_id"])),
            name,
            Text(status, style=STATUS_STYLES.get(status, "")),
            Text(status_counts(row)),
            started_text(row["started_at"]),
            format_duration(row["duration_s"]) if status != "running" else "",
        )
    return table


def bar(fraction: float, width: int) -> str:
    """A horizontal bar ``width`` cells long at full ``fraction`` (0..1), in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return (BAR_BLOCKS[-1] * full + (BAR_BLOCKS[part] if part else "")).ljust(width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def importance_lines(importance, width: int = 80) -> list[str]:
    """``runner importance``'s output: a heading, then one line per category or param
    (name, kind, a bar as long as its importance, the value), then what was the same
    in every run; every line at most ``width`` characters."""
    better = "higher" if importance.direction == "maximize" else "lower"
    heading = (
        f"importance for {importance.metric} ({better} is better), "
        f"{importance.runs} runs, {importance.evaluator}"
    )
    lines = [_clip(printable(heading), width)]
    names = [printable(name) for name, _kind, _value in importance.rows]
    name_width = min(max(len(n) for n in names), MAX_NAME)
    kind_width = max(len(kind) for _name, kind, _value in importance.rows)
    bar_width = max(width - name_width - kind_width - 10, MIN_BAR)
    for name, (_name, kind, value) in zip(names, importance.rows, strict=True):
        lines.append(
            f"{_clip(name, name_width):<{name_width}}  {kind:<{kind_width}}  "
            f"{bar(value, bar_width)} {value:.3f}".rstrip()
        )
    if importance.fixed:
        lines += _wrapped(
            "same in every run: ",
            [f"{printable(k)}={printable(setting_text(v))}" for k, v in importance.fixed.items()],
            width,
        )
    return lines


def _wrapped(lead: str, items: list[str], width: int) -> list[str]:
    """``lead`` then ``items`` separated by commas, wrapped at ``width`` with an indent."""
    lines, current = [], lead
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(current) + len(piece) + 1 > width and current.strip():
            lines.append(current.rstrip())
            current = "  "
        current += piece + " "
    lines.append(current.rstrip())
    return [_clip(line, width) for line in lines]


__all__ = [
    "bar",
    "importance_lines",
    "status_counts",
    "sweep_records",
    "sweeps_table",
]
