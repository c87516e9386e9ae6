"""Runs page: the filtered runs table, one page at a time, newest first, with
params and final metrics as columns (sortable by any of them; the sidebar's
``where`` filters on them, as ``runner runs --where`` does), a link to each run,
status and error; CSV and Parquet downloads of every filtered row."""

import streamlit as st

from scratchlab.core.records import RUN_STATUSES
from scratchlab.reports import ui
from scratchlab.reports.export import FORMATS, table_bytes
from scratchlab.reports.tables import nan_is_missing
from scratchlab.reports.views import runs as views
from scratchlab.reports.views.run import link_config, with_run_links
from scratchlab.reports.views.sweeps import status_chart, status_counts

st.title("Runs")
run_filter = ui.run_filter()
kwargs = run_filter.query_kwargs()
total = int(ui.query("count_runs", **kwargs))

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
rows, error = ui.try_query(
    "list_runs",
    **kwargs,
    limit=page_size,
    offset=offset,
    order_by=order_by,
    descending=descending,
    with_metrics=True,
)
if error is not None:  # a sort column from an old link that no run has
    ui.bad_link("runs.sort", order_by, error)
    order_by = st.session_state["runs.sort"] = "run_id"
    rows = ui.query(
        "list_runs",
        **kwargs,
        limit=page_size,
        offset=offset,
        order_by=order_by,
        descending=descending,
        with_metrics=True,
    )
params = sorted(set(ui.query("param_values", **kwargs)["name"]))
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
if total == 0:
    st.info("No runs match these filters.")
    st.stop()
st.caption(f"runs {offset + 1}–{offset + len(rows)} of {total}")
st.caption(
    "Final metrics are columns: sort by them above, filter on them in the sidebar's where box "
    "(valid_accuracy>=0.9). Open a run from the first column."
)
st.dataframe(
    with_run_links(views.runs_display(rows, metrics)),
    hide_index=True,
    width="stretch",
    column_config=link_config(),
)
counts = {
    status: int(ui.query("count_runs", **{**kwargs, "statuses": [status]}))
    for status in (run_filter.statuses or RUN_STATUSES)
}
st.altair_chart(status_chart(status_counts(counts)), width="stretch")

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
        f"download {total} runs as {fmt.upper()}",
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
    st.code(str(failed.loc[failed["run_id"] == run_id, "reason"].iloc[0]), language=None)
