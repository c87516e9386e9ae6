"""The report app's server entry point: ``app.py`` served by Streamlit's Starlette
server, with what its first script run needs imported while the browser is still
loading the page.

    streamlit run reports/server.py -- --db sqlite:///runs.db

(what ``runner report`` runs). ``streamlit run`` finds :data:`app`, an ``st.App``,
and serves ``app.py`` with it; :func:`warm_imports` runs in a thread from the
moment the server imports this file (the lifespan hook starts it otherwise).
Streamlit imports pandas, Altair, SQLAlchemy and the pages' modules only when the
first browser asks for a page; on a cold server that was most of the first paint
(issue 24 item 17). A module the script run needs
while the thread is importing it waits for it (Python's import lock), so nothing
is imported twice and no page sees a half-imported module.
"""

from __future__ import annotations

import importlib
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

#: the script every session runs
SCRIPT = Path(__file__).resolve().parent / "app.py"

#: what the first script run of the first page imports, in the order it does: the
#: heavy libraries first (they are most of the time), then our modules on top of them
WARM_MODULES: tuple[str, ...] = (
    "pandas",
    "pyarrow",
    "pyarrow.pandas_compat",
    "pyarrow.vendored.version",
    "sqlalchemy",
    "scratchlab.db",
    "scratchlab.db.queries",
    "scratchlab.db.summaries",
    "scratchlab.db.annotations",
    "scratchlab.reports.ui",
    "scratchlab.reports.lookups",
    "scratchlab.reports.pages",
    # the page icon is an emoji: checking it loads Streamlit's table of every emoji
    "streamlit.emojis",
    "streamlit.material_icon_names",
    "altair",
    "narwhals._pandas_like.dataframe",
    "streamlit.elements.arrow",
    "streamlit.elements.vega_charts",
    "scratchlab.reports.views.sweeps",
    "scratchlab.reports.views.runs",
    "scratchlab.reports.views.run",
)


def warm_imports(modules: tuple[str, ...] = WARM_MODULES) -> list[str]:
    """Import ``modules`` one by one, then the SQLAlchemy dialect of the database the
    app reads; a module that fails is logged and skipped (the page that needs it then
    says why). The names imported."""
    log = logging.getLogger("scratchlab.reports")
    done = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a warm-up must never stop the server
            log.warning("warm-up import of %s failed: %s", name, exc)
            continue
        done.append(name)
    try:
        import sys

        from sqlalchemy.engine import make_url

        from scratchlab.reports.source import resolve_db_url

        # the dialect module (SQLite's, PostgreSQL's driver) the store's engine loads
        make_url(resolve_db_url(sys.argv[1:])).get_dialect()
    except Exception as exc:  # a bad URL is the page's to report, in one line
        log.warning("warm-up of the database dialect failed: %s", exc)
    return done


#: the thread of :func:`start_warm_up`, once started
_warming: list[threading.Thread] = []


def start_warm_up() -> threading.Thread:
    """Start :func:`warm_imports` in a daemon thread, once per process."""
    if not _warming:
        thread = threading.Thread(target=warm_imports, name="scratchlab-warm-imports", daemon=True)
        thread.start()
        _warming.append(thread)
    return _warming[0]


@asynccontextmanager
async def warm_lifespan(_app):
    """Make sure the warm-up runs beside the server (not before it: the browser can
    load Streamlit's page and scripts meanwhile)."""
    start_warm_up()
    yield


# ``streamlit run server.py`` imports this file as the module ``server`` to serve
# :data:`app`: the warm-up starts then, so it also overlaps Streamlit's own start-up
# (its runtime reads the metadata of every installed distribution before it serves)
if __name__ == "server":
    start_warm_up()

app = st.App(SCRIPT, lifespan=warm_lifespan)
