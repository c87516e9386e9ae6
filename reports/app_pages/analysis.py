"""Analysis page: which categories and params matter to a metric (importance), how the
runs spread across them (parallel coordinates, slice plots) and how fast a search
found its best (best so far against the trial number)."""

from dataclasses import replace

import streamlit as st

from scratchlab.reports import lookups, ui
from scratchlab.reports.importance import direction_of
from scratchlab.reports.views import analysis as views
from scratchlab.reports.views.training import setting_text

#: the most dimensions drawn by default (the most important ones)
DEFAULT_DIMENSIONS = 6

st.title("Analysis")
run_filter = ui.run_filter()
if not run_filter.statuses:
    # a failed or pruned run's last value is not its result
    run_filter = replace(run_filter, statuses=("done",))
    st.caption("Finished runs (status done); choose statuses in the sidebar for others.")

names = ui.query(lookups.metric_names, run_filter)
if not names:
    st.info(
        "No run in these filters recorded a metric. Metrics come from experiments such as "
        "`train` (`runner sweep --experiments train`)."
    )
    st.stop()

metric_col, direction_col = st.columns([3, 1])
with metric_col:
    default = "valid_accuracy" if "valid_accuracy" in names else names[0]
    metric = ui.page_widget(
        "analysis.metric", st.selectbox, "metric", names, default=default, options=names
    )
with direction_col:
    directions = ["maximize", "minimize"]
    direction = ui.page_widget(
        "analysis.direction",
        st.radio,
        "better is",
        directions,
        default=direction_of(metric),
        options=directions,
        horizontal=True,
    )

table, importance, problem = ui.query(
    lookups.analysis, metric, run_filter, views.MAX_DRAWN, direction
)
if table.empty:
    st.info(f"No run in these filters has a final {ui.plain(metric)}.")
    st.stop()
caption = views.sample_caption(table)
if caption:
    st.caption(caption)

st.header("Importance")
if importance is None:
    st.info(ui.plain(problem))
else:
    st.altair_chart(views.importance_chart(importance), width="stretch")
    if importance.fixed:
        fixed = ", ".join(f"{k}={setting_text(v)}" for k, v in importance.fixed.items())
        st.caption(f"The same in every run: {ui.plain(fixed)}")

dimensions = views.varying(table)
if importance is not None:
    ranked = [name for name, _kind, _value in importance.rows]
    dimensions = sorted(dimensions, key=lambda n: ranked.index(n) if n in ranked else len(ranked))
if not dimensions:
    st.stop()
chosen = ui.page_widget(
    "analysis.dims",
    st.multiselect,
    "dimensions",
    dimensions,
    default=dimensions[:DEFAULT_DIMENSIONS],
    parse=lambda v: [n for n in v.split(",") if n],
    options=dimensions,
)
if chosen:
    st.header("Parallel coordinates")
    st.altair_chart(views.parallel_chart(table, list(chosen)), width="stretch")
    st.header("Slices")
    st.altair_chart(views.slice_chart(table, list(chosen)), width="content")

curve = views.best_so_far(table, direction)
trials = curve.groupby("sweep_id")["trial"].max()
if (trials > 1).any():
    st.header("Best so far")
    searches = ui.query(lookups.search_sweeps, [int(s) for s in trials.index])
    if searches:
        st.caption(f"Searches: {', '.join(f'sweep {s}' for s in searches)}; the rest are grids.")
    st.altair_chart(views.best_chart(curve, metric), width="stretch")
