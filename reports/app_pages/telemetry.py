"""Telemetry page: 06_cuda_cnn_hooks_init's "colorful dimension" (a step x activation heat
map per layer, log counts) and the fraction of activations near zero, for one run."""

import streamlit as st

from scratchlab.db import queries
from scratchlab.reports import ui
from scratchlab.reports.views import telemetry as views
from scratchlab.reports.views.labels import default_run, frame_run_names

#: most runs offered in the run picker; narrow the filters for others
MAX_RUNS = 200

run_filter = ui.page_scope(
    "Telemetry",
    "histograms",
    "No activation histograms in the chosen sweeps and filters. They come from the `telemetry` "
    "experiment (`runner sweep --experiments telemetry`).",
)
runs = ui.first_runs(run_filter, MAX_RUNS, "Runs")
run_ids = [int(r) for r in runs["run_id"]]
if not run_ids:
    st.info("No runs match these filters.")
    st.stop()
# named by what differs between them; opens on the best-trained run, not the first
# (often randn's, whose activations diverged: nothing to see)
names = frame_run_names(runs)
run_id = ui.page_widget(
    "telemetry.run",
    st.selectbox,
    "run",
    run_ids,
    default=default_run(run_ids, ui.query(queries.final_metrics, run_ids=run_ids)),
    parse=int,
    options=run_ids,
    format_func=lambda r: names.get(r, f"#{r}"),
)
histograms = ui.query(queries.activation_histograms, run_ids=run_id)
if histograms.empty:
    st.info(f"Run {run_id} recorded no histograms.")
    st.stop()

st.subheader("Near zero")
st.caption("Fraction of each layer's activations in the histogram's bins around zero, per step.")
st.altair_chart(views.near_zero_chart(views.near_zero_frame(histograms)), width="stretch")
ui.table(views.final_fractions(histograms), hide_index=True)

st.subheader("The colorful dimension")
for layer in views.layer_names(histograms):
    st.altair_chart(
        views.colorful_chart(views.heatmap_frame(histograms, layer), layer), width="stretch"
    )
