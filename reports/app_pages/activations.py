"""Activations page: mean and std per layer for each init x activation and
model, the first layer that went non-finite, and per-step statistics during training."""

import streamlit as st

from scratchlab.db import queries
from scratchlab.reports import ui
from scratchlab.reports.views import activations as views
from scratchlab.reports.views.labels import default_run, frame_run_names
from scratchlab.reports.views.run import link_config, with_run_links

#: most runs whose statistics one view loads; narrow the filters for others
MAX_RUNS = 200

run_filter = ui.page_scope(
    "Activations",
    "stats",
    "No activation statistics in the chosen sweeps and filters. They come from the `init-stats` "
    "experiment (`runner sweep --plugins init,activation`) and from `train` with stats enabled.",
)
runs = ui.first_runs(run_filter, MAX_RUNS, "Statistics")
stats = ui.query(queries.activation_stats, run_ids=[int(r) for r in runs["run_id"]])
if stats.empty:
    st.info("No activation statistics match these filters.")
    st.stop()

labelled = views.label_stats(stats, runs)
final = views.final_stats(labelled)
models = views.model_names(final)
model = ui.page_widget(
    "activations.model",
    st.radio,
    "model",
    models,
    default=views.default_model(models),
    options=models,
    horizontal=True,
    format_func=ui.plain,
)
profile = views.layer_profile(final[final["model"] == model])

full = ui.page_widget(
    "activations.full",
    st.toggle,
    "every line's full range",
    default=False,
    parse=lambda v: v == "True",
    help="By default the std chart opens on the range of the inits that stay near 1; "
    "lines that explode or vanish leave it at a triangle.",
)
chart_col, table_col = st.columns([3, 2])
with chart_col:
    st.altair_chart(views.layer_chart(profile, "std", focus=not full), width="stretch")
with table_col:
    st.caption("std at the last layer (best first: closest to 1)")
    ui.table(
        views.last_layer(profile, "std").drop(columns="layer"),
        hide_index=True,
        width="stretch",
        column_config={
            "std": st.column_config.NumberColumn(format="%.3g"),
            "off by": st.column_config.NumberColumn("|log10 std|", format="%.2f"),
        },
    )
st.caption(
    "Hover a line or its legend entry to pick it out; scroll to zoom, double-click to reset."
)
if ui.page_widget(
    "activations.mean",
    st.toggle,
    "show the mean per layer (symmetric log axis)",
    default=False,
    parse=lambda v: v == "True",
):
    st.altair_chart(views.layer_chart(profile, "mean"), width="stretch")

st.subheader("First non-finite layer")
nonfinite = views.first_nonfinite(final[final["model"] == model])
broken = nonfinite["first_nonfinite"].notna()
if broken.any():
    st.warning(
        f"{int(broken.sum())} of {len(nonfinite)} runs of {ui.plain(model)} produced non-finite activations."
    )
else:
    st.caption(f"Every layer of {ui.plain(model)} stayed finite in every run.")
ui.table(with_run_links(nonfinite), hide_index=True, width="stretch", column_config=link_config())

stepped = views.step_stats(labelled)
if not stepped.empty:
    st.header("During training")
    run_ids = sorted(int(r) for r in stepped["run_id"].unique())
    names = frame_run_names(runs[runs["run_id"].isin(run_ids)])
    run_id = ui.page_widget(
        "activations.run",
        st.selectbox,
        "run",
        run_ids,
        default=default_run(run_ids, ui.query(queries.final_metrics, run_ids=run_ids)),
        parse=int,
        options=run_ids,
        format_func=lambda r: names.get(r, f"#{r}"),
    )
    of_run = stepped[stepped["run_id"] == run_id]
    step_models = views.model_names(of_run)
    step_model = st.radio(
        "model during training",
        step_models,
        horizontal=True,
        key="activations_step_model",
        format_func=ui.plain,
    )
    value = st.radio(
        "statistic", list(views.VALUES), horizontal=True, index=1, key="activations_step_value"
    )
    st.altair_chart(views.step_chart(of_run[of_run["model"] == step_model], value), width="stretch")
