"""The report app's pages: one list, which the app and the tests both read.

Adding a page is a script in ``app_pages/`` (it lays out widgets; its logic
goes in ``views/``) and one :class:`Page` row here. The app builds its menu
from :data:`PAGES` in this order; the tests open every page in it, so a page
cannot be left out of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: where the built-in page scripts live (Streamlit runs them by path)
PAGES_DIR = Path(__file__).resolve().parent / "app_pages"


@dataclass(frozen=True)
class Page:
    """One page of the app: its script, menu title, icon and URL path."""

    script: str | Path  # a file name in app_pages/, or an absolute path
    title: str
    icon: str  # a Streamlit icon: ":material/name:" or an emoji
    url: str  # the URL path: /<url>

    @property
    def path(self) -> Path:
        """The script's absolute path."""
        return PAGES_DIR / self.script


#: every page, in menu order; the first is the home page
PAGES: tuple[Page, ...] = (
    Page("sweeps.py", "Sweeps", ":material/folder_open:", "sweeps"),
    Page("runs.py", "Runs", ":material/table_rows:", "runs"),
    Page("run.py", "Run", ":material/description:", "run"),
    Page("timings.py", "Timings", ":material/timer:", "timings"),
    Page("activations.py", "Activations", ":material/stacked_line_chart:", "activations"),
    Page("training.py", "Training", ":material/show_chart:", "training"),
    Page("analysis.py", "Analysis", ":material/insights:", "analysis"),
    Page("telemetry.py", "Telemetry", ":material/gradient:", "telemetry"),
    Page("checks.py", "Checks", ":material/rule:", "checks"),
    Page("compare.py", "Compare", ":material/compare_arrows:", "compare"),
)
