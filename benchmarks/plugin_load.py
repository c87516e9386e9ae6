"""Loading the plugins, with the components' source hashes computed when first asked.

\b
    python benchmarks/plugin_load.py              # 7 alternating rounds
    python benchmarks/plugin_load.py --rounds 15

Every process that loads the plugins (each supervised worker, every ``runner`` command) used to
hash every registered component's code as it registered: a parse of every module the component
reaches, about 0.3 s for the built-ins. A worker needs at most the dataset's hash, a sweep only
those of the components it runs. Each round runs, as fresh subprocesses in an order that
rotates round by round (torch already imported in each, as in a worker):

- ``load``: :func:`~scratchlab.plugins.manager.load_plugins` alone (what a worker now does);
- ``load + every hash``: the same, then every component's version (what every load did before,
  and what ``runner plugins`` still does).

Target: ``load`` saves at least 0.1 s of CPU a process (medians), about 5% of a worker's start.
"""

from __future__ import annotations

import sys

from _common import Target, alternate, finish, median, parser, print_samples, subprocess_time

SETUP = "import torch; from scratchlab.plugins.manager import load_plugins\n"
LOAD = SETUP + "load_plugins(())\n"
EVERY_HASH = (
    SETUP
    + "r = load_plugins(()).registry\n"
    + "[e.version for c in r.categories() for e in r.category(c.name)]\n"
)


def main(argv: list[str] | None = None) -> int:
    """Measure both loads side by side; print the samples and the target."""
    p = parser(__doc__.split("\n\n")[0], rounds=7)
    args = p.parse_args(argv)
    cpu: dict[str, list[float]] = {"load": [], "load + every hash": []}
    samples = alternate(
        {
            "load": subprocess_time([sys.executable, "-c", LOAD], cpu=cpu["load"]),
            "load + every hash": subprocess_time(
                [sys.executable, "-c", EVERY_HASH], cpu=cpu["load + every hash"]
            ),
        },
        args.rounds,
    )
    # the warm-up round's CPU time is in the lists too: keep the measured rounds only
    cpu = {name: values[-args.rounds :] for name, values in cpu.items()}
    print()
    print_samples(samples, "s", title=f"wall time, {args.rounds} alternating rounds")
    print_samples(cpu, "s", title="CPU time (user + system)")
    lazy, eager = median(cpu["load"]), median(cpu["load + every hash"])
    note = f"CPU medians of {args.rounds} alternating rounds: {lazy:.2f} s against {eager:.2f} s"
    targets = [Target("plugin load: CPU saved a process", eager - lazy, 0.1, ">=", "s", note=note)]
    return finish(
        "plugin_load", targets, json_out=args.json_out, rounds=args.rounds, extra={"cpu": cpu}
    )


if __name__ == "__main__":
    sys.exit(main())
