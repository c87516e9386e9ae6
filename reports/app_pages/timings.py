"""Timings page: median time per component and shape (log axis, IQR error bars),
speed-up against a chosen baseline, GFLOP/s, and a comparison with another
sweep that flags changes beyond noise."""

from dataclasses import replace

import streamlit as st

from scratchlab.db import queries
from scratchlab.db.store import Store
from scratchlab.reports import ui
from scratchlab.reports.views import timings as views

run_filter = ui.page_scope(
    "Timings",
    "timings",
    "No timings in the chosen sweeps and filters. Timings come from the `matmul` experiment "
    "(`runner sweep --plugins matmul`).",
)


def load(sweep_ids):
    """Timings of ``sweep_ids`` narrowed by the sidebar filter (one filtered query)."""
    return ui.query(queries.timings, replace(run_filter, sweep_ids=tuple(sweep_ids)))


def replicates_of(frame):
    """Every replicate of ``frame``'s timings, or None where there are too many to pool."""
    if not views.pools_replicates(frame):
        return None
    return ui.query(queries.timing_replicates, [int(t) for t in frame["timing_id"]])


timings = load(run_filter.sweep_ids)
if timings.empty:
    st.info("No timings match these filters.")
    st.stop()

groups = [*views.component_columns(timings), "label"]
by = ui.page_widget(
    "timings.by",
    st.selectbox,
    "compare along",
    groups,
    default=views.default_group(timings),
    options=groups,
)
values = sorted(timings[by].dropna().astype(str).unique())
# default baseline: the lessons' python, else the slowest over all shapes, so speed-ups read as
# "times faster than"; remembered for the session, so a refresh with new rows does not flip it
baseline = ui.page_widget(
    "timings.baseline",
    st.selectbox,
    "baseline",
    values,
    default=views.default_baseline(timings, by),
    options=values,
)

replicates = replicates_of(timings)
if replicates is None:
    st.caption(
        f"{int(timings['n'].sum()):,} replicates in these {len(timings):,} timings: each row's quartiles "
        "are the medians of its runs' own. Narrow the filters to pool every replicate."
    )
summary = views.with_speedup(views.summarize(timings, by, replicates), by, baseline)
st.altair_chart(views.timing_chart(summary, by), width="stretch")
table = views.timing_table(summary, by)
flagged = int((table["flag"] != "").sum())
if flagged:
    st.warning(
        f"{flagged} of {len(table)} timings are flagged (⚠ in the last column): their IQR is over "
        f"{views.FLAG_SPREAD:.0%} of the median, or they were stored as noisy. Re-run them on a quiet machine.",
        icon=":material/warning:",
    )
ui.table(
    table,
    hide_index=True,
    width="stretch",
    column_config={"speed-up": st.column_config.NumberColumn(format="%.2fx")},
)

st.header("Against another sweep")
sweeps = ui.query(queries.list_sweeps)
others = [
    int(s)
    for s in sweeps["sweep_id"].sort_values(ascending=False)
    if int(s) not in run_filter.sweep_ids
]
against = ui.page_widget(
    "timings.against",
    st.selectbox,
    "reference sweep",
    [None, *others],
    default=None,
    parse=int,
    options=[None, *others],
    format_func=lambda s: "(none)" if s is None else ui.sweep_label(sweeps)(s),
)
if against is not None:
    reference = load([against])
    if reference.empty:
        st.info(f"Sweep #{against} has no timings that match these filters.")
    else:
        reference_replicates = replicates_of(reference)
        before = views.summarize(reference, by, reference_replicates)
        after = views.summarize(timings, by, replicates)
        differences = views.environment_differences(
            ui.query(Store.get_sweep, int(against)).get("environment"),
            ui.query(Store.get_sweep, int(run_filter.sweep_ids[0])).get("environment"),
        )
        if not differences.empty:
            st.warning(
                "The two sweeps ran in different environments (CPU, torch or device): "
                "differences may not be the code's."
            )
            ui.table(differences, hide_index=True)
        comparison = views.compare_sweeps(before, after, by)
        flagged = comparison[comparison["change"] != "within noise"]
        st.caption(
            f"{len(flagged)} of {len(comparison)} timings changed beyond noise "
            "(IQRs do not overlap, or Mann-Whitney p < 0.05); ratio = this sweep / reference."
        )
        ui.table(
            views.in_unit(comparison, ["median_before", "median_after"]),
            hide_index=True,
            width="stretch",
        )
