"""The scratchlab report app.

    streamlit run reports/app.py -- --db sqlite:///runs.db

(or ``runner report``). The database comes from ``--db`` after ``--``, else
``SCRATCHLAB_DB``, else ``runs.db`` in the working directory, and is opened
read-only. This script draws the sidebar filters, hands them to the chosen
page through session state, and runs the page; the pages are listed in
:mod:`scratchlab.reports.pages`, live in ``app_pages/`` and only lay out widgets.
"""

from __future__ import annotations

import streamlit as st

from scratchlab.reports import pages as pages_
from scratchlab.reports import ui

#: the browser tab's icon: an emoji, which Streamlit draws as an inline SVG (a
#: ``:material/...:`` icon there is fetched from fonts.gstatic.com: nothing may leave the machine)
PAGE_ICON = "🧪"

st.set_page_config(page_title="scratchlab", page_icon=PAGE_ICON, layout="wide")

pages = {p.url: st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url) for p in pages_.PAGES}


def _home() -> None:
    """The root URL opens the first page under its own path (so ``/sweeps`` is a page,
    not "Page not found"), keeping the link's filters."""
    st.switch_page(pages[pages_.PAGES[0].url], query_params=dict(st.query_params))


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
