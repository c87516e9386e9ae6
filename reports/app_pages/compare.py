"""Compare page: pick runs, see only the settings in which they differ and every
final metric and timing side by side."""

import streamlit as st

from scratchlab.reports import ui
from scratchlab.reports.views import compare as views

#: runs offered in the picker (the filtered ones, newest first)
MAX_OPTIONS = 500

st.title("Compare")
run_filter = ui.run_filter()
candidates = ui.query("list_runs", **run_filter.query_kwargs(), limit=MAX_OPTIONS, order_by="run_id",
                      descending=True)
labels = views.run_labels(candidates)
ui.remembered("compare.runs", [], ui.parse_ints)
# runs named in a shared link stay pickable even when the filters would hide them
for run_id in st.session_state["compare.runs"] or []:
    labels.setdefault(int(run_id), f"#{int(run_id)}")
chosen = ui.page_widget("compare.runs", st.multiselect, "runs", list(labels), default=[], options=list(labels),
                        format_func=lambda r: labels.get(r, f"#{r}"), placeholder="pick two or more runs")
if len(chosen) < 2:
    st.info("Pick two or more runs to compare them.")
    st.stop()

runs, final, timings = views.from_summaries([ui.query("run_summary", int(r)) for r in chosen])
st.subheader("Settings that differ")
settings = views.differing_settings(runs)
if settings.empty:
    st.caption("These runs share every setting.")
else:
    st.dataframe(settings, hide_index=True, width="stretch")

st.subheader("Final metrics")
st.dataframe(views.metrics_side_by_side(final, chosen), hide_index=True, width="stretch")
if not timings.empty:
    st.subheader("Timings (median, seconds)")
    st.dataframe(views.timings_side_by_side(timings, chosen), hide_index=True, width="stretch")
