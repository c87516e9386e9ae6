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

import statistics
import sys
import tempfile
import time
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


def main(argv: list[str] | None = None) -> int:
    """Time first paint and warm pages over the rounds; print the table and the targets."""
    p = parser(__doc__.split("\n\n")[0], rounds=3)
    p.add_argument(
        "--db", required=True, help="results database URL (the main job's), e.g. sqlite:///runs.db"
    )
    p.add_argument(
        "--first-paint-only", action="store_true", help="time first paint only, no warm pages"
    )
    args = p.parse_args(argv)
    if browser.chromium_binary() is None:
        raise SystemExit("no chromium binary (apt-get install chromium)")
    firsts: dict[str, list[float]] = {name: [] for name, _ in SERVERS}
    totals: dict[str, list[float]] = {name: [] for name, _ in SERVERS}
    warm: dict[str, list[float]] = {path: [] for path, _, _ in PAGES}
    for index in range(args.rounds):
        for name in rotated([n for n, _ in SERVERS], index):
            with tempfile.TemporaryDirectory(
                prefix="browser-pages-", ignore_cleanup_errors=True
            ) as folder:
                paint, total = first_paint(args.db, Path(folder), dict(SERVERS)[name])
            firsts[name].append(paint)
            totals[name].append(total)
        pages = {}
        if not args.first_paint_only:
            with tempfile.TemporaryDirectory(
                prefix="browser-pages-", ignore_cleanup_errors=True
            ) as folder:
                pages = warm_pages(args.db, Path(folder))
        for path, seconds in pages.items():
            warm[path].append(seconds)
        print(
            f"round {index + 1}: first paint "
            + ", ".join(f"{n} {firsts[n][-1]:.2f} s" for n, _ in SERVERS)
            + (f", slowest warm page {max(pages.values()):.2f} s" if pages else "")
            + f" (load {load_average()})",
            file=sys.stderr,
        )
    ours, base = (name for name, _ in SERVERS)
    rows = [(f"first paint, {n}", *spread(firsts[n])) for n, _ in SERVERS]
    rows += [(f"start to paint, {n}", *spread(totals[n])) for n, _ in SERVERS]
    rows += [(f"{path} (warm, sidebar click)", *spread(v)) for path, v in warm.items() if v]
    print(f"\nreport app in headless Chromium on {args.db} (median of {args.rounds} rounds)")
    print_table(("page", "median s", "min s", "max s"), rows)
    note = f"median of {args.rounds} rounds, headless Chromium, load {load_average()}"
    paint = statistics.median(firsts[ours])
    targets = [
        Target("first paint, cold server", paint, FIRST_PAINT_S, "<=", "s", note),
        Target(
            "first paint against the plain app.py",
            ratio(paint, statistics.median(firsts[base])),
            1.0,
            "<=",
            "x",
            f"{note}; the baseline {statistics.median(firsts[base]):.2f} s",
        ),
    ]
    targets += [
        Target(f"{path} page, warm", statistics.median(v), WARM_PAGE_S, "<=", "s", note)
        for path, v in warm.items()
        if v
    ]
    return finish(
        "browser_pages", targets, json_out=args.json_out, rounds=args.rounds, extra={"db": args.db}
    )


if __name__ == "__main__":
    sys.exit(main())
