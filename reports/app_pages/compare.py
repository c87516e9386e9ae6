"""Compare page: pick runs in a table (or open a link that names them), see only the
settings in which they differ, every final metric and timing side by side, and
their metrics and curves as charts."""

import pandas as pd
import streamlit as st

from scratchlab.db import queries
from scratchlab.reports import ui
from scratchlab.reports.views import compare as views
from scratchlab.reports.views import training as training_views
from scratchlab.reports.views.labels import run_names
from scratchlab.reports.views.run import link_config, with_run_links
from scratchlab.reports.views.timings import pick_unit

#: runs offered in the picker (the filtered ones, newest first)
MAX_OPTIONS = 500

st.title("Compare")
run_filter = ui.run_filter()
candidates = ui.query(
    queries.list_runs,
    **run_filter.query_kwargs(),
    limit=MAX_OPTIONS,
    order_by="run_id",
    descending=True,
)
labels = views.run_labels(candidates)
ui.remembered("compare.runs", [], ui.parse_ints)
linked = [int(r) for r in st.session_state["compare.runs"] or []]

# rows ticked in a table, not a type-ahead box: typing a name and Enter cannot pick every match
st.caption("Tick two or more runs (the sidebar narrows the list); the choice is kept in the link.")
picker = ui.table(
    pd.DataFrame({"run_id": list(labels), "run": list(labels.values())}),
    hide_index=True,
    width="stretch",
    height=220,
    on_select="rerun",
    selection_mode="multi-row",
    key="compare.pick",
)
ticked = (
    [list(labels)[i] for i in picker.selection.rows]
    if picker is not None and picker.selection
    else []
)
chosen = ticked or linked
missing = (
    []
    if not chosen
    else sorted(
        set(chosen) - set(ui.query(queries.list_runs, run_ids=chosen)["run_id"].astype(int))
    )
)
if missing:
    st.warning(
        f"No run {', '.join(map(str, missing))} in this database; left out.",
        icon=":material/search_off:",
    )
    chosen = [r for r in chosen if r not in missing]
st.session_state["compare.runs"] = chosen
ui.publish("compare.runs", chosen)
if len(chosen) < 2:
    st.info("Pick two or more runs to compare them.")
    st.stop()

summaries = [ui.query(queries.run_summary, int(r)) for r in chosen]
runs, final, timings = views.from_summaries(summaries)
# one name and one colour per run in every table and chart: "#91 kaiming-normal · relu"
names = run_names(summaries)
headers = dict(zip(views.run_header(chosen), (names[r] for r in chosen), strict=True))
ui.table(
    with_run_links(
        pd.DataFrame({"run_id": chosen, "run": [labels.get(r, f"#{r}") for r in chosen]})
    ),
    hide_index=True,
    column_config=link_config(),
)
st.subheader("Settings that differ")
settings = views.differing_settings(runs)
if settings.empty:
    st.caption("These runs share every setting.")
else:
    ui.table(settings.rename(columns=headers), hide_index=True, width="stretch")

st.subheader("Final metrics")
ui.table(
    views.metrics_side_by_side(final, chosen).rename(columns=headers),
    hide_index=True,
    width="stretch",
)
if not timings.empty:
    side = views.timings_side_by_side(timings, chosen)
    unit, scale = pick_unit(timings["median"])
    st.subheader(f"Timings (median, {unit})")
    ui.table(
        side.assign(**{c: side[c] / scale for c in side.columns[1:]}).rename(columns=headers),
        hide_index=True,
        width="stretch",
    )

if not final.empty:
    st.altair_chart(views.metrics_chart(final, chosen, names), width="content")
points = ui.query(queries.metrics, run_ids=list(chosen), max_points=400)
curves = views.run_curves(points, names)
for name in training_views.default_curves(list(curves)) if curves else []:
    frame, over_epochs = curves[name]
    st.altair_chart(
        training_views.curve_chart(
            frame,
            name,
            clip=True,
            x_title="epoch" if over_epochs else "step",
            colours=views.run_colours(names),
        ),
        width="stretch",
    )
