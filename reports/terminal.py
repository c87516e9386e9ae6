"""Terminal tables for ``runner runs``, ``runner show`` and ``runner compare --metrics``,
built with rich (the timing tables of ``runner compare`` are in
:mod:`scratchlab.reports.timing_tables`).

Every value from the database goes into a cell as :class:`rich.text.Text`, so a
plugin name or an error message containing ``[bold]`` is printed as written,
never read as markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from scratchlab.core.textsafe import printable
from scratchlab.reports.views.common import format_duration, is_missing, text_value

#: style of a run status, as in the app's colours
STATUS_STYLES: dict[str, str] = {
    "done": "green",
    "failed": "red",
    "timeout": "magenta",
    "skipped": "yellow",
    "pruned": "blue",
    "interrupted": "red",
    "running": "cyan",
    "pending": "dim",
}


def cell(value: Any) -> str:
    """A value as table text: numbers with four significant digits, missing as empty."""
    if value is None or type(value).__name__ in (
        "NAType",
        "NaTType",
    ):  # pandas' missing, without importing it
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    if hasattr(value, "hour"):
        # every stored time is UTC: the zone is said in the column, not in each cell
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return printable(text_value(value))


def frame_table(
    frame,
    *,
    title: str | None = None,
    styles: Mapping[str, Mapping[str, str]] | None = None,
    nan: str = "NaN",
) -> FrameTable:
    """A DataFrame as a rich renderable table; ``styles`` maps a column to {value: style}
    (e.g. status colours); ``nan`` is how NaN shows (empty where NaN means "not set", as
    params of other experiments). Cells never wrap: the columns that do not fit the
    width it is printed at are left out and named under it."""
    return FrameTable(frame, title=title, styles=styles, nan=nan)


class FrameTable:
    """:func:`frame_table`'s table, laid out at the width it is printed at."""

    def __init__(self, frame, *, title, styles, nan) -> None:
        self.title = title
        self.columns = [str(c) for c in frame.columns]
        self.numeric = {str(c): frame[c].dtype.kind in "iuf" for c in frame.columns}
        self.rows = []
        for row in frame.itertuples(index=False, name=None):
            cells = []
            for column, value in zip(self.columns, row):
                text = nan if isinstance(value, float) and math.isnan(value) else cell(value)
                cells.append(Text(text, style=(styles or {}).get(column, {}).get(text, "")))
            self.rows.append(cells)

    def __rich_console__(self, console, options):
        """The table with the leading columns that fit ``options.max_width`` whole."""
        widths = [
            max(cell_len(printable(c)), *(r[i].cell_len for r in self.rows))
            for i, c in enumerate(self.columns)
        ]
        keep = len(self.columns)
        # each cell is padded by a space on both sides, with one bar between cells
        while keep > 1 and sum(w + 3 for w in widths[:keep]) - 1 > options.max_width:
            keep -= 1
        hidden = self.columns[keep:]
        table = Table(
            title=self.title,
            title_justify="left",
            show_edge=False,
            header_style="bold",
            caption=f"hidden: {', '.join(map(printable, hidden))} (--json)" if hidden else None,
            caption_justify="left",
        )
        for column in self.columns[:keep]:
            table.add_column(
                Text(printable(column)),
                justify="right" if self.numeric[column] else "left",
                no_wrap=True,
            )
        for cells in self.rows:
            table.add_row(*cells[:keep])
        yield table


#: marks a value measured while the machine was busy (timing quality ``noisy``)
NOISY_MARK = "~"


def _glance_cell(glance, column: str, value: Any, noisy: set[str]) -> Text:
    if column == "status":
        return Text(printable(value), style=STATUS_STYLES.get(str(value), ""))
    if column == "duration":
        return Text(format_duration(value))
    if column not in glance.metrics and is_missing(value):
        return Text("")  # a param this run does not have; a metric's NaN is a value and shows
    text = cell(value)
    # a metric derived from a noisy timing (``5x784x10.median_s`` of timing ``5x784x10``)
    if text and column in glance.metrics and column.split(".", 1)[0] in noisy:
        text = NOISY_MARK + text
    return Text(text)


def glance_cells(glance, noisy: dict[int, set[str]]) -> dict[str, list[Text]]:
    """Every cell of a glance's table, by column, formatted once."""
    run_ids = glance.columns.get("run_id")
    marks = (
        [noisy.get(int(run_id), set()) for run_id in run_ids]
        if run_ids is not None
        else [set()] * len(glance)
    )
    return {
        column: [_glance_cell(glance, column, value, mark) for value, mark in zip(values, marks)]
        for column, values in glance.columns.items()
    }


def _numeric(values) -> bool:
    """A column of numbers (ints or floats, NaN included; None where a row has no value)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


#: the glance grid's rules, as rich draws a table with ``show_edge=False`` and its
#: default box (HEAVY_HEAD): a heavy line under the header, light bars between cells
HEADER_BAR, BODY_BAR, RULE, RULE_CROSS = "┃", "│", "━", "╇"


def _width(column: str, cells: dict[str, list[Text]]) -> int:
    return max(cell_len(printable(column)), *(text.cell_len for text in cells[column]))


def grid_width(columns: list[str], widths: dict[str, int]) -> int:
    """Characters a glance grid of ``columns`` takes: each cell padded by one space
    on both sides, one bar between cells, no outer edge."""
    return sum(widths[c] + 2 for c in columns) + max(len(columns) - 1, 0)


def glance_grid(
    glance, columns: list[str], cells: dict[str, list[Text]], widths: dict[str, int]
) -> list[Text]:
    """One experiment's runs as lines of text: its name, the header, a rule and a row
    per run, each cell padded to its column's width (numbers to the right); cells
    never wrap. Laid out here rather than by ``rich.table.Table``, which took 0.2 s
    of ``runner runs``' start-up for 50 rows; the look is the same."""
    right = {
        c: c in glance.metrics or c == "duration" or _numeric(glance.columns[c]) for c in columns
    }

    def unwrapped(text: str = "", style: str = "") -> Text:
        # a line wider than the terminal is the terminal's to fold, never rich's to re-wrap
        return Text(text, style=style, no_wrap=True, overflow="ignore")

    def line(texts: list[Text], bar: str, style: str = "") -> Text:
        out = unwrapped(style=style)
        for index, (column, text) in enumerate(zip(columns, texts, strict=True)):
            gap = " " * (widths[column] - text.cell_len)
            out.append(bar if index else "")
            out.append(" " + (gap if right[column] else ""))
            out.append_text(text)
            out.append((gap if not right[column] else "") + " ")
        out.rstrip()
        return out

    header = line([Text(printable(c)) for c in columns], HEADER_BAR, style="bold")
    rule = unwrapped(RULE_CROSS.join(RULE * (widths[c] + 2) for c in columns))
    rows = [line([cells[c][index] for c in columns], BODY_BAR) for index in range(len(glance))]
    return [unwrapped(printable(glance.experiment), style="bold"), header, rule, *rows]


class Fitted:
    """A glance table that fits itself to the width it is printed at (a rich renderable)."""

    def __init__(
        self, glance, noisy: dict[int, set[str]] | None = None, *, fit: bool = True
    ) -> None:
        self.glance, self.noisy, self.fit = glance, noisy, fit

    def __rich_console__(self, console, options):
        """Render :func:`fitted_table` at ``options.max_width``."""
        yield fitted_table(self.glance, console, self.noisy, fit=self.fit, width=options.max_width)


def fitted_table(
    glance,
    console,
    noisy: dict[int, set[str]] | None = None,
    *,
    fit: bool = True,
    width: int | None = None,
) -> Group:
    """:func:`glance_grid` with as many of the glance's columns, in priority order, as
    fit ``width`` (default: the console's) whole, and below it a footer naming the
    constant and the hidden ones (wrapped at ``width``, not at the table's width: a
    narrow table would otherwise fold the footer into a tall column)."""
    width = width or console.width
    cells = glance_cells(glance, noisy or {})
    columns = list(glance.columns)
    widths = {c: _width(c, cells) for c in columns}
    hidden: list[str] = []
    while fit and grid_width(columns, widths) > width:
        droppable = [c for c in columns if c not in glance.required]
        if not droppable:
            break
        hidden.insert(0, droppable[-1])
        columns.remove(droppable[-1])
    rows = len(glance)
    noun = glance.noun or ("run" if "run_id" in glance.columns else "configuration")
    count = f"{rows} of {glance.total}" if glance.total not in (None, rows) else f"{rows}"
    notes = [f"{count} {noun}{'s' if (glance.total or rows) != 1 else ''}"]
    if glance.more:
        notes.append(glance.more)
    if glance.constant:
        notes.append("all with " + ", ".join(f"{k}={v}" for k, v in glance.constant.items()))
    if hidden:
        notes.append(f"hidden: {', '.join(hidden)} (--wide or --columns)")
    if any(NOISY_MARK in text.plain for column in columns for text in cells[column]):
        notes.append(f"{NOISY_MARK}: timed while the machine was busy (noisy)")
    return Group(
        *glance_grid(glance, columns, cells, widths), Text(printable("; ".join(notes)), style="dim")
    )


def mapping_table(
    mapping: Mapping[str, Any], *, title: str, key: str = "name", value: str = "value"
) -> Table:
    """A two-column table of a dict (params, environment)."""
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    table.add_column(key, no_wrap=True)  # a name never breaks
    table.add_column(value, overflow="fold")
    for name, item in mapping.items():
        table.add_row(Text(printable(name)), Text(cell(item)))
    return table


def sections(parts: Iterable[Any]) -> Group:
    """Renderables one after another, for a single ``console.print``."""
    return Group(*parts)


#: the run's fields ``runner show`` lists under its header (tags and note only when set)
SHOWN_RUN_FIELDS: tuple[str, ...] = (
    "device",
    "dtype",
    "seed",
    "repeat",
    "started_at",
    "finished_at",
    "duration_s",
    "key",
    "tags",
    "note",
)


def detail_renderables(detail) -> Group:
    """``runner show``: the run's header, components and params, timings, a
    summary of activation statistics per model, final metrics, and the reason or
    traceback (as plain text)."""
    run = detail.run
    about = {k: run.get(k) for k in SHOWN_RUN_FIELDS if k not in ("tags", "note") or run.get(k)}
    parts: list[Any] = [_run_header(run), mapping_table(about, title="run")]
    if detail.components:
        versions = detail.component_versions
        parts.append(
            mapping_table(
                {
                    c: f"{n}  ({versions[c]})" if versions.get(c) else n
                    for c, n in detail.components.items()
                },
                title="components",
                key="category",
                value="component (version)",
            )
        )
    if detail.params:
        parts.append(mapping_table(detail.params, title="params"))
    if len(detail.timings):
        parts.append(
            frame_table(
                detail.timings,
                title="timings (seconds)",
                styles={"quality": {"noisy": "bold yellow"}},
            )
        )
    if len(detail.stats):
        parts.append(frame_table(detail.stats, title="activation statistics (last step)"))
    if detail.metrics:
        parts.append(mapping_table(detail.metrics, title="metrics (final values)", key="metric"))
    if detail.reason:
        parts.append(Text(f"{printable(run['status'])} reason:", style="bold"))
        parts.append(Text(printable(detail.reason, keep_lines=True)))
    return Group(*parts)


def _run_header(run: Mapping[str, Any]) -> Text:
    """``run 12  train  done  sweep #3 name``: the status in its colour."""
    header = Text()
    header.append(f"run {run['run_id']}", style="bold")
    header.append(f"  {printable(run['experiment'])}  ")
    header.append(printable(run["status"]), style=STATUS_STYLES.get(str(run["status"]), ""))
    header.append(f"  sweep #{run['sweep_id']} {printable(run.get('sweep_name') or '')}")
    return header
