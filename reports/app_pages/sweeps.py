"""Sweeps page: every sweep with its command, counts by status and duration;
one sweep's environment and spec."""

import streamlit as st

from scratchlab.core.textsafe import printable
from scratchlab.db import queries
from scratchlab.db.store import Store
from scratchlab.reports import ui
from scratchlab.reports.views import sweeps as views
from scratchlab.reports.views.common import command_line, format_duration

st.title("Sweeps")
run_filter = ui.run_filter()
sweeps = ui.query(queries.list_sweeps)
if sweeps.empty:
    st.info("No sweeps in this database yet. Start one with `runner sweep --plugins matmul`.")
    st.stop()

shown = sweeps[sweeps["sweep_id"].isin(run_filter.sweep_ids)] if run_filter.sweep_ids else sweeps
for line in views.running_lines(shown):
    st.caption(f":material/sync: {ui.plain(line)}")
ui.table(views.sweeps_table(shown), hide_index=True, width="stretch")

ids = [int(s) for s in shown["sweep_id"].sort_values(ascending=False)]
chosen = ui.page_widget(
    "sweeps.sweep",
    st.selectbox,
    "details of sweep",
    ids,
    default=ids[0],
    parse=int,
    options=ids,
    format_func=ui.sweep_label(sweeps),
)
row = shown[shown["sweep_id"] == chosen].iloc[0].to_dict()
detail = ui.query(Store.get_sweep, int(chosen))

st.subheader(f"#{chosen} {ui.plain(row['name'])}")
left, middle, right = st.columns(3)
left.metric("status", ui.plain(row["status"]))
middle.metric("runs", int(row["n_runs"]))
right.metric("duration", format_duration(row["duration_s"]) or "—")
st.caption("command")
st.code(printable(command_line(row["argv"])), language="bash")

counts, environment = st.columns([1, 2])
with counts:
    st.altair_chart(views.status_chart(views.status_counts(row)), width="stretch")
with environment:
    st.caption("environment")
    ui.table(views.environment_table(detail.get("environment")), hide_index=True, width="stretch")
with st.expander("sweep spec"):
    st.json(detail.get("spec") or {})
