"""How fast the report app shows its pages in a real browser (headless Chromium).

Serves ``reports/app.py`` with ``streamlit run`` on a results database (the
README's main job: pass it with ``--db``), then, per round:

- **first paint**: a fresh server and a fresh browser profile open the root
  URL; seconds from navigation until the Sweeps page shows its title and table
  and Streamlit is idle (cold: no cache). Measured side by side, in alternating
  order, for what ``runner report`` serves (``reports/server.py``: the app with
  its first imports done in the server's start-up hook) and for the plain
  ``streamlit run reports/app.py`` (the baseline: the server has imported
  nothing); also from starting the server process to the painted page
  ("start to paint", what a user who runs ``runner report`` waits);
- **warm pages**: in the same browser, every page is opened by clicking its
  sidebar link, as a person moves between pages, after one visit that warmed
  the server's caches; seconds from the click until the page shows its title
  and its chart or table and Streamlit is idle.

Targets: first paint under 3 s, every page under 1 s warm (medians over the
rounds). On a busy machine the numbers include the contention: the load
average is printed with them.

    python benchmarks/browser_pages.py --db sqlite:///runs.db
    python benchmarks/browser_pages.py --db sqlite:///runs.db --rounds 3 --json-out browser.json
    python benchmarks/browser_pages.py --db sqlite:///runs.db --rounds 5 --first-paint-only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import Target, finish, load_average, parser, print_table, ratio, rotated

from scratchlab.reports import browser

FIRST_PAINT_S = 3.0
WARM_PAGE_S = 1.0

#: (url path, title, what must be drawn) of the pages timed warm, in menu order
PAGES: tuple[tuple[str, str, str], ...] = (
    ("runs", "Runs", "tables"),
    ("run", "Run", "tables"),
    ("timings", "Timings", "charts"),
    ("activations", "Activations", "charts"),
    ("training", "Training", "charts"),
    ("checks", "Checks", "charts"),
    ("compare", "Compare", "title"),
    ("sweeps", "Sweeps", "tables"),
)


#: the two ways of serving the app whose first paint is compared: (name, script)
SERVERS: tuple[tuple[str, Path], ...] = (
    ("server.py (runner report)", browser.SERVER),
    ("app.py (baseline)", browser.APP),
)


def first_paint(db_url: str, workdir: Path, script: Path) -> tuple[float, float]:
    """``(navigation to paint, server start to paint)`` seconds of the first page on a
    fresh server serving ``script`` and a fresh browser profile."""
    with browser.Chromium(workdir / "profile", size="1400,1000") as chrome:
        started = time.monotonic()
        with browser.served_app(db_url, workdir, script=script) as base:
            up = time.monotonic() - started
            first = chrome.visit(f"{base}/", ready="tables", settle=0)
    if not first.ready:
        raise SystemExit(f"the first page did not render: {first.state.get('errors')}")
    return first.seconds, up + first.seconds


def warm_pages(db_url: str, workdir: Path) -> dict[str, float]:
    """Every page warm (sidebar clicks after one visit of each), seconds."""
    warm: dict[str, float] = {}
    with (
        browser.served_app(db_url, workdir) as base,
        browser.Chromium(workdir / "profile", size="1400,1000") as chrome,
    ):
        chrome.visit(f"{base}/", ready="tables", settle=0)
        for path, title, ready in PAGES:  # warm the server's caches, as a first look does
            chrome.click_page(path, title, ready, settle=0)
        for path, title, ready in PAGES:
            visit = chrome.click_page(path, title, ready, settle=0)
            if not visit.ready or visit.state.get("exceptions") or visit.state.get("errors"):
                raise SystemExit(f"{title} did not render: {visit.state.get('errors')}")
            warm[path] = visit.seconds
    return warm


def spread(values: list[float]) -> tuple[str, str, str]:
    """Median, min and max as table text."""
    return f"{statistics.median(values):.2f}", f"{min(values):.2f}", f"{max(values):.2f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options: ``_common``'s, the database and whether to skip the warm pages."""
    p = parser(__doc__.split("\n\n")[0], rounds=3)
    p.add_argument(
        "--db", required=True, help="results database URL (the main job's), e.g. sqlite:///runs.db"
    )
    p.add_argument(
        "--first-paint-only", action="store_true", help="time first paint only, no warm pages"
    )
    return p.parse_args(argv)


@dataclass
class Seconds:
    """Every round's seconds: first paint and start to paint per server, each warm page."""

    firsts: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n, _ in SERVERS})
    totals: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n, _ in SERVERS})
    warm: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p, _, _ in PAGES})


def scratch_folder():
    """A temporary folder for a server and a browser profile (left-over locks ignored)."""
    return tempfile.TemporaryDirectory(prefix="browser-pages-", ignore_cleanup_errors=True)


def one_round(db_url: str, index: int, seconds: Seconds, first_paint_only: bool) -> None:
    """Round ``index``: first paint on each server in rotated order, then the warm pages."""
    for name in rotated([n for n, _ in SERVERS], index):
        with scratch_folder() as folder:
            paint, total = first_paint(db_url, Path(folder), dict(SERVERS)[name])
        seconds.firsts[name].append(paint)
        seconds.totals[name].append(total)
    pages = {}
    if not first_paint_only:
        with scratch_folder() as folder:
            pages = warm_pages(db_url, Path(folder))
    for path, page_seconds in pages.items():
        seconds.warm[path].append(page_seconds)
    print(
        f"round {index + 1}: first paint "
        + ", ".join(f"{n} {seconds.firsts[n][-1]:.2f} s" for n, _ in SERVERS)
        + (f", slowest warm page {max(pages.values()):.2f} s" if pages else "")
        + f" (load {load_average()})",
        file=sys.stderr,
    )


def print_seconds(seconds: Seconds, db_url: str, rounds: int) -> None:
    """The table of every timed page: median, min and max over the rounds."""
    rows = [(f"first paint, {n}", *spread(seconds.firsts[n])) for n, _ in SERVERS]
    rows += [(f"start to paint, {n}", *spread(seconds.totals[n])) for n, _ in SERVERS]
    rows += [(f"{path} (warm, sidebar click)", *spread(v)) for path, v in seconds.warm.items() if v]
    print(f"\nreport app in headless Chromium on {db_url} (median of {rounds} rounds)")
    print_table(("page", "median s", "min s", "max s"), rows)


def targets(seconds: Seconds, rounds: int) -> list[Target]:
    """First paint under 3 s and no slower than the plain app; every page under 1 s warm."""
    ours, base = (name for name, _ in SERVERS)
    note = f"median of {rounds} rounds, headless Chromium, load {load_average()}"
    paint = statistics.median(seconds.firsts[ours])
    baseline = statistics.median(seconds.firsts[base])
    found = [
        Target("first paint, cold server", paint, FIRST_PAINT_S, "<=", "s", note),
        Target(
            "first paint against the plain app.py",
            ratio(paint, baseline),
            1.0,
            "<=",
            "x",
            f"{note}; the baseline {baseline:.2f} s",
        ),
    ]
    found += [
        Target(f"{path} page, warm", statistics.median(v), WARM_PAGE_S, "<=", "s", note)
        for path, v in seconds.warm.items()
        if v
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    """Time first paint and warm pages over the rounds; print the table and the targets."""
    args = parse_args(argv)
    if browser.chromium_binary() is None:
        raise SystemExit("no chromium binary (apt-get install chromium)")
    seconds = Seconds()
    for index in range(args.rounds):
        one_round(args.db, index, seconds, args.first_paint_only)
    print_seconds(seconds, args.db, args.rounds)
    return finish(
        "browser_pages",
        targets(seconds, args.rounds),
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"db": args.db},
    )


if __name__ == "__main__":
    sys.exit(main())
