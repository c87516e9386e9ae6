"""Run page: one run in full, as ``runner show`` has it (fields, components and
versions, params, final metrics, the reason or traceback), plus its charts:
per-layer statistics, curves, and timings with every replicate. Opened from
the run links of the other pages (``run?run.id=42``)."""

import pandas as pd
import streamlit as st

from scratchlab.core.textsafe import printable
from scratchlab.db import queries
from scratchlab.reports import ui
from scratchlab.reports.views import run as views
from scratchlab.reports.views import timings as timing_views
from scratchlab.reports.views import training as training_views
from scratchlab.reports.views.detail import summary_row

st.title("Run")
newest = ui.query(queries.list_runs, limit=1, order_by="run_id", descending=True)
if newest.empty:
    st.info("No runs in this database yet.")
    st.stop()
run_id = ui.page_widget(
    "run.id",
    st.number_input,
    "run id",
    default=int(newest["run_id"].iloc[0]),
    parse=ui.parse_id,
    min_value=1,
    max_value=2**53 - 1,
    step=1,
)  # the browser's largest exact integer
if not int(ui.query(queries.count_runs, run_ids=[int(run_id)])):  # a link to a run that is gone
    st.warning(f"There is no run {int(run_id)} in this database.", icon=":material/search_off:")
    st.stop()
summary = ui.query(queries.run_summary, int(run_id))

st.subheader(f"#{int(run_id)} {ui.plain(summary['experiment'])} · {ui.plain(summary['status'])}")
st.caption(f"sweep #{int(summary['sweep_id'])} {ui.plain(summary.get('sweep_name') or '')}")
if summary.get("tags"):
    st.caption(f"tags: {ui.plain(', '.join(summary['tags']))}")
if summary.get("note"):
    st.info(ui.plain(summary["note"]), icon=":material/edit_note:")
if summary.get("reason"):
    st.code(printable(summary["reason"], keep_lines=True), language=None)

fields, what = st.columns(2)
with fields:
    ui.table(views.fields_table(summary), hide_index=True, width="stretch")
with what:
    ui.table(views.choices_table(summary), hide_index=True, width="stretch")
    ui.table(views.params_table(summary), hide_index=True, width="stretch")

# one time unit on the whole page: the final metrics, the timings table and the replicates
unit = views.time_unit(summary)
metrics = views.metrics_table(summary, unit)
if not metrics.empty:
    st.header("Final metrics")
    ui.table(
        metrics,
        hide_index=True,
        width="stretch",
        column_config={"value": st.column_config.NumberColumn(format="%.6g")},
    )

stats = summary["stats"]
if len(stats):
    st.header("Activations per layer")
    st.altair_chart(views.stats_chart(stats), width="stretch")
    broken = {m: n for m, n in (summary.get("first_nonfinite") or {}).items() if n}
    for model, name in broken.items():
        st.warning(f"{ui.plain(model)}: non-finite from {ui.plain(name)} on.")

points = ui.query(queries.metrics, run_ids=[int(run_id)], max_points=1000)
stepped = points[points["step"].notna()]
if not stepped.empty:
    st.header("Curves")
    runs = pd.DataFrame([summary_row(summary)])
    epochs = training_views.epoch_steps(stepped)
    for name in sorted(stepped["name"].unique()):
        if name == training_views.EPOCH_MARKER:
            continue
        of_metric = stepped[stepped["name"] == name]
        over_epochs = training_views.per_epoch(stepped, name, epochs)
        curves = training_views.aggregate_repeats(
            training_views.as_epochs(of_metric, epochs) if over_epochs else of_metric, runs
        )
        st.altair_chart(
            training_views.curve_chart(curves, name, x_title="epoch" if over_epochs else "step"),
            width="stretch",
        )

timings = summary["timings"]
if len(timings):
    st.header("Timings")
    replicates = ui.query(queries.timing_replicates, [int(t) for t in timings["timing_id"]])
    table = timings.copy()
    table["flag"] = timing_views.spread_flag(
        table.assign(noisy_runs=(table["quality"] == "noisy").astype(int))
    )
    shown = timing_views.in_unit(
        table[
            ["label", "shape", "n", "median", "iqr", "min", "gflops", "threads", "quality", "flag"]
        ],
        ["median", "iqr", "min"],
        unit,
    )
    ui.table(shown, hide_index=True, width="stretch")
    if not replicates.empty:
        st.altair_chart(views.replicate_chart(timings, replicates, unit), width="stretch")
