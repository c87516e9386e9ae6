"""How fast the report app shows its pages in a real browser (headless Chromium).

Serves ``reports/app.py`` with ``streamlit run`` on a results database (the
README's main job: pass it with ``--db``), then, per round:

- **first paint**: a fresh server and a fresh browser profile open the root
  URL; seconds from navigation until the Sweeps page shows its title and table
  and Streamlit is idle (cold: the server has imported nothing, no cache);
- **warm pages**: in the same browser, every page is opened by clicking its
  sidebar link, as a person moves between pages, after one visit that warmed
  the server's caches; seconds from the click until the page shows its title
  and its chart or table and Streamlit is idle.

Targets: first paint under 3 s, every page under 1 s warm (medians over the
rounds). On a busy machine the numbers include the contention: the load
average is printed with them.

    python benchmarks/browser_pages.py --db sqlite:///runs.db
    python benchmarks/browser_pages.py --db sqlite:///runs.db --rounds 3 --json-out browser.json
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from _common import Target, finish, load_average, parser, print_table

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


def one_round(db_url: str, workdir: Path) -> tuple[float, dict[str, float]]:
    """First paint on a fresh server and profile, then every page warm; seconds."""
    warm: dict[str, float] = {}
    with (
        browser.served_app(db_url, workdir) as base,
        browser.Chromium(workdir / "profile", size="1400,1000") as chrome,
    ):
        first = chrome.visit(f"{base}/", ready="tables", settle=0)
        if not first.ready:
            raise SystemExit(f"the first page did not render: {first.state.get('errors')}")
        for (
            path,
            title,
            ready,
        ) in PAGES:  # warm the server's caches, as a first look at each page does
            chrome.click_page(path, title, ready, settle=0)
        for path, title, ready in PAGES:
            visit = chrome.click_page(path, title, ready, settle=0)
            if not visit.ready or visit.state.get("exceptions") or visit.state.get("errors"):
                raise SystemExit(f"{title} did not render: {visit.state.get('errors')}")
            warm[path] = visit.seconds
    return first.seconds, warm


def main(argv: list[str] | None = None) -> int:
    """Time first paint and warm pages over the rounds; print the table and the targets."""
    p = parser(__doc__.split("\n\n")[0], rounds=3)
    p.add_argument(
        "--db", required=True, help="results database URL (the main job's), e.g. sqlite:///runs.db"
    )
    args = p.parse_args(argv)
    if browser.chromium_binary() is None:
        raise SystemExit("no chromium binary (apt-get install chromium)")
    firsts: list[float] = []
    warm: dict[str, list[float]] = {path: [] for path, _, _ in PAGES}
    for index in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="browser-pages-") as folder:
            first, pages = one_round(args.db, Path(folder))
        firsts.append(first)
        for path, seconds in pages.items():
            warm[path].append(seconds)
        print(
            f"round {index + 1}: first paint {first:.2f} s, slowest warm page {max(pages.values()):.2f} s "
            f"(load {load_average()})",
            file=sys.stderr,
        )
    rows = [
        (
            "first paint (cold server)",
            f"{statistics.median(firsts):.2f}",
            f"{min(firsts):.2f}",
            f"{max(firsts):.2f}",
        )
    ]
    rows += [
        (
            f"{path} (warm, sidebar click)",
            f"{statistics.median(v):.2f}",
            f"{min(v):.2f}",
            f"{max(v):.2f}",
        )
        for path, v in warm.items()
    ]
    print(f"\nreport app in headless Chromium on {args.db} (median of {args.rounds} rounds)")
    print_table(("page", "median s", "min s", "max s"), rows)
    note = f"median of {args.rounds} rounds, headless Chromium, load {load_average()}"
    targets = [
        Target(
            "first paint, cold server", statistics.median(firsts), FIRST_PAINT_S, "<=", "s", note
        )
    ]
    targets += [
        Target(f"{path} page, warm", statistics.median(v), WARM_PAGE_S, "<=", "s", note)
        for path, v in warm.items()
    ]
    return finish(
        "browser_pages", targets, json_out=args.json_out, rounds=args.rounds, extra={"db": args.db}
    )


if __name__ == "__main__":
    sys.exit(main())
