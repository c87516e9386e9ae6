"""Training page: loss and accuracy curves per configuration, repeats as a mean
with a confidence band, final metrics and samples/s."""

import streamlit as st

from scratchlab.db import queries
from scratchlab.reports import lookups, ui
from scratchlab.reports.views import training as views
from scratchlab.reports.views.run import link_config, with_run_links

#: most runs whose curves one view loads; narrow the filters for others
MAX_RUNS = 60
#: points per run and metric the query returns (it down-samples)
MAX_POINTS = 400

run_filter = ui.page_scope(
    "Training",
    "curves",
    "No training curves in the chosen sweeps and filters. They come from the `train` experiment "
    "(`runner sweep --experiments train`).",
)
runs = ui.first_runs(run_filter, MAX_RUNS, "Curves")
run_ids = [int(r) for r in runs["run_id"]]
# the metrics of the runs shown (not of the whole sweep, whose other experiments record others)
final = ui.query(queries.final_metrics, run_ids=run_ids)
names = sorted(final["name"].unique()) if not final.empty else []
if runs.empty or not names:
    st.info("No metrics match these filters.")
    st.stop()

chosen = ui.page_widget(
    "training.metrics",
    st.multiselect,
    "curves",
    names,
    default=views.default_curves(names),
    parse=lambda v: [n for n in v.split(",") if n],
    options=names,
)
log_col, clip_col = st.columns(2)
with log_col:
    log = ui.page_widget(
        "training.log", st.toggle, "log axis", default=False, parse=lambda v: v == "True"
    )
with clip_col:
    clip = ui.page_widget(
        "training.clip",
        st.toggle,
        "clip outliers",
        default=True,
        parse=lambda v: v == "True",
        help="Limit the y axis to the curves' typical range (3 IQRs beyond the quartiles), so one "
        "diverging configuration does not flatten the rest. Scroll on a chart to zoom.",
    )
if chosen:
    curves_by_name = ui.query(
        lookups.training_curves, run_filter, run_ids, list(chosen), MAX_POINTS
    )
    for name in chosen:
        curves, over_epochs = curves_by_name[name]
        if curves.empty:
            st.caption(f"{ui.plain(name)} has no per-step values in these runs.")
            continue
        st.altair_chart(
            views.curve_chart(
                curves, name, log=log, clip=clip, x_title="epoch" if over_epochs else "step"
            ),
            width="stretch",
        )

if not final.empty:
    st.header("Final metrics")
    st.caption(
        "Per configuration: mean and standard deviation over its repeats (samples/s included)."
    )
    ui.table(views.final_summary(final, runs), hide_index=True, width="stretch")
    with st.expander("per run"):
        ui.table(
            with_run_links(views.final_table(final, runs)),
            hide_index=True,
            width="stretch",
            column_config=link_config(),
        )
