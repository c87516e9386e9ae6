"""How fast each page of the report app renders on a large database.

Uses the shared big database of the scale benchmarks (``_bigdb.cached``: built
once per size and kept, planned runs through the store's own write path,
results in bulk): 10,000 runs and 1,000,000 metric points by default, 100,000
runs and 10,000,000 points with ``--runs 100000``. A tenth are matmul runs
with timings and replicates, a tenth init-stats runs with per-layer
statistics of the three models (the deep one 100 layers), the rest train runs
with loss and accuracy histories. Then renders every page with Streamlit's
AppTest, a few rounds each with the query cache cleared (the read-only store
stays open, as in a running server), and prints the median render time of
each page against the 2 s target.

    python benchmarks/report_pages.py                       # 10,000 runs: build or reuse, then time
    python benchmarks/report_pages.py --runs 100000 --rounds 3
    python benchmarks/report_pages.py --page analysis      # one page only
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from _bigdb import POINTS_PER_RUN, cached
from _common import Target, finish, parser, print_table

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "reports" / "app.py"
TARGET_S = 2.0

#: run counts the benchmark is meant for (any other count works too)
SIZES: tuple[int, ...] = (10_000, 100_000)

#: (page, URL query parameters set for it) timed in this order
PAGES: tuple[tuple[str, dict[str, str]], ...] = (
    ("sweeps", {}),
    ("runs", {}),
    ("runs", {"where": "lr>=0.5", "runs.sort": "duration_s", "runs.desc": "True"}),
    ("runs", {"where": "valid_accuracy>=0.5", "runs.sort": "valid_accuracy"}),
    ("run", {"run.id": "9001"}),
    ("timings", {}),
    ("activations", {"activations.model": "deep"}),
    ("training", {}),
    ("training", {"activation": "tanh", "init": "xavier"}),
    ("checks", {}),
    ("compare", {"compare.runs": "9001,9002,9003"}),
    # 8,000 train runs have valid_accuracy: the page samples 2,000 of them (its caption says so)
    ("analysis", {}),
    ("analysis", {"experiment": "train", "analysis.metric": "valid_loss"}),
)


def time_page(page: str, query: dict[str, str], rounds: int) -> list[float]:
    """Seconds to render ``page`` with ``query``, once per round, query cache cleared each time."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    seconds = []
    for _ in range(rounds):
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=120)
        sidebar = {k: v for k, v in query.items() if "." not in k}
        at.query_params.update(sidebar)
        if page == "sweeps":
            started = time.perf_counter()
            at.run()
        else:
            at.run()
            st.cache_data.clear()
            at.query_params.update(query)
            at.switch_page(f"app_pages/{page}.py")
            started = time.perf_counter()
            at.run()
        seconds.append(time.perf_counter() - started)
        if at.exception or at.error:
            raise SystemExit(f"{page} failed: {[e.value for e in [*at.exception, *at.error]]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the database, time every page, print the table and one
    target per page; exit 0 when every page renders within the target."""
    p = parser(__doc__.split("\n\n")[0], rounds=3)
    p.add_argument(
        "--runs", type=int, default=SIZES[0], help="runs in the database (default: %(default)s)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        help="database file to build once and reuse (default: _bigdb's per size)",
    )
    p.add_argument(
        "--page",
        dest="pages",
        action="append",
        metavar="NAME",
        help="time only this page (repeatable; default: every page)",
    )
    args = p.parse_args(argv)
    path = cached(args.runs, args.cache)
    os.environ["SCRATCHLAB_DB"] = f"sqlite:///{path}"

    import logging

    # AppTest runs outside a server: Streamlit warns about the missing context on every run
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    rows, targets = [], []
    for page, query in PAGES:
        if args.pages and page not in args.pages:
            continue
        seconds = time_page(page, query, args.rounds)
        shown = "&".join(f"{k}={v}" for k, v in query.items()) or "(default)"
        median = statistics.median(seconds)
        rows.append((page, shown, f"{median:.3f}", f"{min(seconds):.3f}", f"{max(seconds):.3f}"))
        targets.append(
            Target(
                f"{page} page, {shown}",
                measured=median,
                limit=TARGET_S,
                op="<=",
                unit="s",
                note=f"median of {args.rounds} AppTest renders, query cache cleared each",
            )
        )
    print(
        f"\nreport pages on {args.runs} runs / {args.runs * POINTS_PER_RUN} metric points "
        f"(AppTest, median of {args.rounds}, query cache cleared each round)"
    )
    print_table(("page", "query", "median s", "min s", "max s"), rows)
    return finish(
        "report_pages",
        targets,
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"runs": args.runs, "metric_points": args.runs * POINTS_PER_RUN},
    )


if __name__ == "__main__":
    sys.exit(main())
