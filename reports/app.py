"""The scratchlab report app.

    streamlit run reports/app.py -- --db sqlite:///runs.db

(or ``runner report``). The database comes from ``--db`` after ``--``, else
``SCRATCHLAB_DB``, else ``runs.db`` in the working directory, and is opened
read-only. This script draws the sidebar filters, hands them to the chosen
page through session state, and runs the page; the pages live in
``app_pages/`` and only lay out widgets.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from scratchlab.reports import ui

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

#: (script, title, icon, url path) of every page, in menu order
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("sweeps.py", "Sweeps", ":material/folder_open:", "sweeps"),
    ("runs.py", "Runs", ":material/table_rows:", "runs"),
    ("run.py", "Run", ":material/description:", "run"),
    ("timings.py", "Timings", ":material/timer:", "timings"),
    ("activations.py", "Activations", ":material/stacked_line_chart:", "activations"),
    ("training.py", "Training", ":material/show_chart:", "training"),
    ("analysis.py", "Analysis", ":material/insights:", "analysis"),
    ("telemetry.py", "Telemetry", ":material/gradient:", "telemetry"),
    ("checks.py", "Checks", ":material/rule:", "checks"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
)

#: the browser tab's icon: an emoji, which Streamlit draws as an inline SVG (a
#: ``:material/...:`` icon there is fetched from fonts.gstatic.com: nothing may leave the machine)
PAGE_ICON = "🧪"

st.set_page_config(page_title="scratchlab", page_icon=PAGE_ICON, layout="wide")

pages = {
    url: st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=url)
    for script, title, icon, url in PAGES
}


def _home() -> None:
    """The root URL opens the first page under its own path (so ``/sweeps`` is a page,
    not "Page not found"), keeping the link's filters."""
    st.switch_page(pages[PAGES[0][3]], query_params=dict(st.query_params))


page = st.navigation(
    [
        st.Page(_home, title="home", url_path="home", default=True, visibility="hidden"),
        *pages.values(),
    ]
)
if page.url_path in pages:
    ui.drop_other_pages(page.url_path)
    ui.live_refresh()
    st.session_state[ui.FILTER_STATE] = ui.sidebar_filters()
    st.sidebar.caption(f"database: {ui.plain(ui.db_url())}")
try:
    page.run()
except Exception as exc:  # a viewer gets one line, the server log the traceback
    ui.page_failed(exc)
