"""Runs page: the filtered runs, one experiment at a time, by the rule of
``runner runs``: the components and params that vary first, then the experiment's
headline results; what every run shares is said once above the table, and a
column chooser adds any other column. One page at a time, newest first, sortable
by any column, param or final metric (the sidebar's ``where`` filters on them, as
``runner runs --where`` does), a link to each run, status and error; CSV and
Parquet downloads of every filtered row."""

import streamlit as st

from scratchlab.core.records import RUN_STATUSES
from scratchlab.core.textsafe import printable
from scratchlab.db import catalog, queries
from scratchlab.reports import lookups, ui
from scratchlab.reports.export import FORMATS, table_bytes
from scratchlab.reports.tables import nan_is_missing
from scratchlab.reports.views import runs as views
from scratchlab.reports.views.run import link_config, with_run_links
from scratchlab.reports.views.sweeps import status_chart, status_counts

st.title("Runs")
run_filter = ui.run_filter()
kwargs = run_filter.query_kwargs()
counts = dict(ui.query(lookups.experiment_counts, **kwargs))
if not counts:
    st.info("No runs match these filters.")
    st.stop()
experiments = list(counts)
# each experiment has its own columns: one table at a time, as runner runs prints one per experiment
experiment = ui.page_widget(
    "runs.experiment",
    st.radio,
    "experiment",
    experiments,
    default=experiments[0],
    options=experiments,
    horizontal=True,
    format_func=lambda e: f"{ui.plain(e)} ({counts[e]})",
)
shown_filter = run_filter.narrowed(experiments=[experiment])
shown_kwargs = shown_filter.query_kwargs()
total = counts[experiment]

sort_col, order_col, size_col, page_col = st.columns([2, 1, 1, 1])
# the sort choices include the final metrics of the rows shown, so they are drawn after the rows are read
ui.remembered("runs.sort", "run_id")
ui.remembered("runs.desc", True, lambda v: v == "True")
order_by, descending = st.session_state["runs.sort"], bool(st.session_state["runs.desc"])
with size_col:
    page_size = ui.page_widget(
        "runs.size",
        st.selectbox,
        "rows per page",
        list(views.PAGE_SIZES),
        default=views.PAGE_SIZES[2],
        parse=int,
        options=list(views.PAGE_SIZES),
    )
pages = views.page_count(total, page_size)
ui.remembered("runs.page", 1, int)
# fewer runs after a filter change: stay on the last page that exists
st.session_state["runs.page"] = min(max(1, int(st.session_state["runs.page"] or 1)), pages)
with page_col:
    page = ui.page_widget(
        "runs.page",
        st.number_input,
        f"page (of {pages})",
        min_value=1,
        max_value=pages,
        step=1,
        default=1,
        parse=int,
    )

offset = views.page_offset(page, total, page_size)
page_rows = {
    "limit": page_size,
    "offset": offset,
    "descending": descending,
    "with_metrics": True,
}
rows, error = ui.try_query(queries.list_runs, **shown_kwargs, order_by=order_by, **page_rows)
if error is not None:  # a sort column from an old link that no run has
    ui.bad_link("runs.sort", order_by, error)
    order_by = st.session_state["runs.sort"] = "run_id"
    rows = ui.query(queries.list_runs, **shown_kwargs, order_by=order_by, **page_rows)
params = sorted(set(ui.query(catalog.param_values, **shown_kwargs)["name"]))
metrics = views.metric_columns(rows, params)
sortable = list(dict.fromkeys([*views.SORTABLE, *params, *metrics, order_by]))
with sort_col:
    ui.page_widget(
        "runs.sort",
        st.selectbox,
        "sort by",
        sortable,
        default="run_id",
        options=sortable,
        help="Any run column, param or final metric.",
    )
with order_col:
    ui.page_widget("runs.desc", st.toggle, "descending", default=True, parse=lambda v: v == "True")
ui.remembered("runs.columns", [], lambda v: [c for c in v.split(",") if c])
focus = [
    order_by,
    *(n for kind in ("fields", "metrics", "params") for n in getattr(run_filter, kind)),
]
view = views.runs_view(
    rows,
    metrics,
    ui.query(lookups.sweep_headlines, tuple(sorted({int(s) for s in rows["sweep_id"]}))),
    chosen=st.session_state["runs.columns"] or [],
    focus=focus,
)
st.caption(f"{ui.plain(experiment)} runs {offset + 1}–{offset + len(rows)} of {total}")
if view.constant:
    shared = ", ".join(f"{k}={v}" for k, v in view.constant.items())
    st.caption(f"All runs shown share {ui.plain(shared)}.")
# the columns picked (those this experiment has), then every other one it could show
choices = [c for c in st.session_state["runs.columns"] or [] if c in view.frame.columns]
choices += view.more
ui.page_widget(
    "runs.columns",
    st.multiselect,
    "more columns",
    choices,
    default=[],
    options=choices,
    placeholder="add a param, final metric or run column",
    help="Columns that vary come first; these are the rest (constant ones are listed above).",
)
ui.table(
    with_run_links(view.frame),
    hide_index=True,
    width="stretch",
    column_config={
        **link_config(),
        "duration_s": st.column_config.NumberColumn("duration_s", format="%.2f"),
    },
)
by_status = {
    status: int(ui.query(queries.count_runs, **{**kwargs, "statuses": [status]}))
    for status in (run_filter.statuses or RUN_STATUSES)
}
st.altair_chart(status_chart(status_counts(by_status)), width="stretch")

store = ui.store()


def _export(fmt: str):
    """Deferred download: every filtered row, read when the button is pressed."""

    def build() -> bytes:
        from scratchlab.db import queries

        rows = queries.list_runs(store, **kwargs, order_by=order_by, descending=descending)
        return table_bytes(rows, fmt, nan_is_missing("runs", rows))

    return build


buttons = st.columns(len(("csv", "parquet")))
for column, fmt in zip(buttons, ("csv", "parquet")):
    suffix, mime = FORMATS[fmt]
    column.download_button(
        f"download {sum(counts.values())} runs as {fmt.upper()}",
        _export(fmt),
        file_name=f"runs{suffix}",
        mime=mime,
        on_click="ignore",
        key=f"runs.download.{fmt}",
    )

failed = rows[rows["reason"].fillna("").astype(str).str.strip() != ""]
if not failed.empty:
    st.subheader("Reasons and errors")
    run_id = st.selectbox(
        "run",
        list(failed["run_id"]),
        key="runs_reason_run",
        format_func=lambda r: f"#{r} {failed.loc[failed['run_id'] == r, 'status'].iloc[0]}",
    )
    # shown as plain text: tracebacks and skip reasons come from the database
    reason = failed.loc[failed["run_id"] == run_id, "reason"].iloc[0]
    st.code(printable(reason, keep_lines=True), language=None)
