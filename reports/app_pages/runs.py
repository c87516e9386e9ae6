"""Runs page: the filtered runs table, one page at a time, with params as
columns, status and error; CSV and Parquet downloads of every filtered row."""

import streamlit as st

from scratchlab.db.records import RUN_STATUSES
from scratchlab.reports import ui
from scratchlab.reports.export import FORMATS, table_bytes
from scratchlab.reports.tables import nan_is_missing
from scratchlab.reports.views import runs as views
from scratchlab.reports.views.sweeps import status_chart, status_counts

st.title("Runs")
run_filter = ui.run_filter()
kwargs = run_filter.query_kwargs()
total = int(ui.query("count_runs", **kwargs))

sort_col, order_col, size_col, page_col = st.columns([2, 1, 1, 1])
sortable = [*views.SORTABLE, *sorted(set(ui.query("param_values", sweep_ids=kwargs["sweep_ids"])["name"]))]
with sort_col:
    order_by = ui.page_widget("runs.sort", st.selectbox, "sort by", sortable, default="run_id", options=sortable)
with order_col:
    descending = ui.page_widget("runs.desc", st.toggle, "descending", default=False, parse=lambda v: v == "True")
with size_col:
    page_size = ui.page_widget("runs.size", st.selectbox, "rows per page", list(views.PAGE_SIZES),
                               default=views.PAGE_SIZES[2], parse=int, options=list(views.PAGE_SIZES))
pages = views.page_count(total, page_size)
ui.remembered("runs.page", 1, int)
# fewer runs after a filter change: stay on the last page that exists
st.session_state["runs.page"] = min(max(1, int(st.session_state["runs.page"] or 1)), pages)
with page_col:
    page = ui.page_widget("runs.page", st.number_input, f"page (of {pages})", min_value=1, max_value=pages,
                          step=1, default=1, parse=int)

offset = views.page_offset(page, total, page_size)
rows = ui.query("list_runs", **kwargs, limit=page_size, offset=offset, order_by=order_by, descending=descending)
if total == 0:
    st.info("No runs match these filters.")
    st.stop()
st.caption(f"runs {offset + 1}–{offset + len(rows)} of {total}")
st.dataframe(views.runs_display(rows), hide_index=True, width="stretch")
counts = {status: int(ui.query("count_runs", **{**kwargs, "statuses": [status]}))
          for status in (run_filter.statuses or RUN_STATUSES)}
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
    column.download_button(f"download {total} runs as {fmt.upper()}", _export(fmt), file_name=f"runs{suffix}",
                           mime=mime, on_click="ignore", key=f"runs.download.{fmt}")

failed = rows[rows["reason"].fillna("").astype(str).str.strip() != ""]
if not failed.empty:
    st.subheader("Reasons and errors")
    run_id = st.selectbox(
        "run", list(failed["run_id"]), key="runs_reason_run",
        format_func=lambda r: f"#{r} {failed.loc[failed['run_id'] == r, 'status'].iloc[0]}",
    )
    # shown as plain text: tracebacks and skip reasons come from the database
    st.code(str(failed.loc[failed["run_id"] == run_id, "reason"].iloc[0]), language=None)
