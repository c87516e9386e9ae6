"""Terminal tables of timings for ``runner compare``, built with rich: a
``torch.utils.benchmark.Compare``-style table (median ± IQR per component and shape,
with speed-ups) and a regression table of one sweep against another.

Every value from the database goes into a cell as :class:`rich.text.Text` (see
:mod:`scratchlab.reports.terminal`), never read as markup.
"""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table
from rich.text import Text

from scratchlab.core.textsafe import printable
from scratchlab.reports.terminal import NOISY_MARK, cell

#: style of a comparison verdict
CHANGE_STYLES: dict[str, str] = {
    "slower": "bold red",
    "faster": "bold green",
    "within noise": "dim",
}


def fixed(value: float, significant: int = 4) -> str:
    """A positive number with ``significant`` digits and no exponent, as benchmark tables
    print times: ``12800.0`` -> ``"12800"``, ``0.0123`` -> ``"0.0123"``."""
    if not math.isfinite(value):
        return cell(float(value))
    if value == 0:
        return "0"
    digits = math.floor(math.log10(abs(value))) + 1
    return f"{value:.{max(0, significant - digits)}f}"


def speedup_text(speedup: Any) -> str:
    """`` (3.2x faster)`` or `` (107,800x slower)`` against the baseline: a slow-down
    as the factor it is, not as ``0.00000928x``; empty when unknown."""
    if not isinstance(speedup, float | int) or not math.isfinite(speedup) or speedup <= 0:
        return ""
    if speedup >= 1:
        return f" ({readable_factor(speedup)}x faster)"
    return f" ({readable_factor(1 / speedup)}x slower)"


def readable_factor(factor: float) -> str:
    """``3.24`` -> ``3.2``, ``107813.4`` -> ``107,813``: three significant digits at
    most below 1,000, whole numbers with thousands separators above."""
    if factor >= 1000:
        return f"{factor:,.0f}"
    return f"{factor:.3g}"


def benchmark_table(
    summary, by: str, *, baseline: str | None = None, title: str | None = None
) -> Table:
    """A ``torch.utils.benchmark.Compare``-style table: one row per ``by`` value
    (within each label and device), one column per shape, cells ``median ± IQR``
    in one unit, with ``(N.Nx)`` the speed-up against ``baseline`` when given."""
    from scratchlab.reports.views.timings import OPERATION_KEYS, pick_unit

    unit, scale = pick_unit(summary["median"])
    shapes = list(dict.fromkeys(summary["shape"]))
    table = Table(
        title=title or f"median time ± IQR per {by} and shape",
        title_justify="left",
        show_edge=False,
        header_style="bold",
        caption=f"Times are in {unit}; fastest first."
        + (f" (Nx faster / slower): against {baseline}." if baseline else "")
        + (
            f" {NOISY_MARK}: timed while the machine was busy (noisy)."
            if "noisy_runs" in summary and (summary["noisy_runs"] > 0).any()
            else ""
        ),
    )
    table.add_column(by)
    for shape in shapes:
        table.add_column(Text(printable(shape) or "-"), justify="right")
    others = [k for k in OPERATION_KEYS if k not in (by, "shape")]
    for group_key, group in summary.groupby(others, sort=False):
        table.add_row(
            Text(" · ".join(printable(k) for k in group_key if str(k)), style="bold"),
            *[""] * len(shapes),
        )
        # fastest first: by the geometric mean of its medians over the shapes
        speed = group.groupby(by, sort=False)["median"].apply(
            lambda m: math.exp(m[m > 0].map(math.log).mean()) if (m > 0).any() else math.inf
        )
        for name in speed.sort_values(kind="stable").index:
            rows = group[group[by] == name]
            cells = []
            for shape in shapes:
                match = rows[rows["shape"] == shape]
                cells.append(
                    Text("") if match.empty else _time_cell(match.iloc[0], scale, name, baseline)
                )
            table.add_row(Text(f"  {printable(name)}"), *cells)
    return table


def _time_cell(row, scale: float, name: Any, baseline: str | None) -> Text:
    """One cell of :func:`benchmark_table`: ``median ± IQR`` in the table's unit (``scale``
    seconds), marked when noisy, with the speed-up against ``baseline`` unless row
    ``name`` is the baseline, which is bold."""
    text = f"{fixed(row['median'] / scale)} ± {fixed(row['iqr'] / scale, 2)}"
    if row.get("noisy_runs", 0):
        text = NOISY_MARK + text
    is_base = baseline is not None and str(name) == str(baseline)
    if baseline and not is_base:
        text += speedup_text(row.get("speedup", math.nan))
    return Text(text, style="bold" if is_base else "")


def regression_table(comparison, by: str, *, before: str, after: str) -> Table:
    """``runner compare --sweep A --against B``: per ``by`` and shape the two medians,
    their ratio, the Mann-Whitney p-value and the verdict (slower / faster / within noise)."""
    from scratchlab.reports.views.timings import pick_unit

    unit, scale = pick_unit([*comparison["median_before"], *comparison["median_after"]])
    table = Table(
        title=Text(printable(f"{after} against {before}")),
        title_justify="left",
        show_edge=False,
        header_style="bold",
        caption=f"Times are in {unit}; ratio = {after} / {before}, above 1 is slower. "
        "Flagged when IQRs do not overlap or Mann-Whitney p < 0.05.",
    )
    for column in (by, "label", "shape", "device", before, after, "ratio", "p", "change"):
        table.add_column(
            column, justify="right" if column in (before, after, "ratio", "p") else "left"
        )
    for _, row in comparison.iterrows():
        table.add_row(
            *(Text(cell(row[k])) for k in (by, "label", "shape", "device")),
            fixed(row["median_before"] / scale),
            fixed(row["median_after"] / scale),
            f"{row['ratio']:.3f}",
            cell(row["p_value"]),
            Text(row["change"], style=CHANGE_STYLES.get(row["change"], "")),
        )
    return table
