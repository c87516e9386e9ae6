"""Checks page: gradcheck's verdicts as an activation x loss grid (largest
relative gradient error, pass/fail, NaN and inf marked) and the losses side by
side, where the naive log-softmax overflows and log-sum-exp does not."""

import streamlit as st

from scratchlab.reports import lookups, ui
from scratchlab.reports.views import checks as views
from scratchlab.reports.views.run import link_config, with_run_links

#: most gradcheck runs one view loads
MAX_RUNS = 2000

st.title("Checks")
scope = ui.run_filter().narrowed(experiments=("gradcheck",))
grid, newest = ui.query(lookups.gradcheck_grid, scope, MAX_RUNS)
if grid is None:
    st.info(
        "No gradcheck runs in the chosen sweeps and filters. They come from "
        "`runner sweep --plugins activation,loss --experiments gradcheck` (add `--init randn,kaiming-normal` "
        "to see the naive log-softmax overflow)."
    )
    st.stop()
if newest is not None:
    st.caption(
        f"Showing sweep #{newest}, the newest with gradcheck runs; choose sweeps in the sidebar."
    )

failing = grid[~grid["verdict"].isin(["pass", "skipped"])]
if failing.empty:
    st.success(
        f"All {int((grid['verdict'] == 'pass').sum())} checked combinations pass: the hand-written "
        "backward matches autograd."
    )
else:
    st.warning(
        f"{len(failing)} of {len(grid)} combinations do not pass (FAIL, NaN or inf in the grid)."
    )
st.altair_chart(views.heatmap(grid), width="content")

st.header("Log-softmax overflow")
broken = views.overflowed(grid)
if broken:
    st.caption(
        f"{len(broken)} init × activation pairs give a non-finite loss with some losses while "
        "`nll-logsumexp` stays finite: exp() of large logits overflows unless the maximum is "
        "subtracted first (the lessons' LogSumExp trick)."
    )
ui.table(views.overflow_table(grid), hide_index=True, width="stretch")

with st.expander("every gradcheck run"):
    ui.table(
        with_run_links(
            grid[["run_id", "init", "activation", "loss", "max_rel_err", "loss_value", "verdict"]]
        ),
        hide_index=True,
        width="stretch",
        column_config=link_config(),
    )
