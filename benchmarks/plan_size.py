"""How fast a plan that explodes is refused (issue 20, part 4), side by side with
building the plan it would be.

Three cases, medians of ``--rounds`` alternating rounds (``_common``), in this process:

1. ``refuse-all``: ``plan()`` of every component of every built-in category
   (``--plugins matmul,init,activation,loss,dataset,optimizer,schedule,norm``:
   1,037,141 runs), refused by the run count before a run is built;
2. ``refuse-repeat``: ``--plugins matmul --repeat 10000`` (100,000 runs), refused alike;
3. ``build-10k``: ``plan()`` of a 10,000-run plan that is allowed
   (``--experiments gradcheck --repeat 10000``), built run by run.

Targets: each refusal within 1 s, and at least 100x faster than building the
plan it refuses would be (``build-10k`` scaled to its run count: what answering
took before runs were counted). ``runner sweep --dry-run`` adds only the
command's start-up (plugins loaded, about 1.5 s) to these.

Run: ``python benchmarks/plan_size.py`` (well under a minute).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Target, alternate, finish, median, parser, print_samples

EVERYTHING = ("matmul", "init", "activation", "loss", "dataset", "optimizer", "schedule", "norm")


def main() -> int:
    """Measure, print the tables, return the exit code."""
    args = parser(__doc__.splitlines()[0], rounds=5).parse_args()
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.plan import plan
    from scratchlab.runner.spec import PlanError, SweepSpec

    registry = load_plugins().registry
    refused = {
        "refuse-all": (SweepSpec(plugins=EVERYTHING), 1_037_141),
        "refuse-repeat": (SweepSpec(plugins=("matmul",), repeat=10_000), 100_000),
    }
    allowed = SweepSpec(experiments=("gradcheck",), repeat=10_000)

    def refusal(spec: SweepSpec):
        def case() -> float:
            import time

            start = time.perf_counter()
            try:
                plan(spec, registry)
            except PlanError:
                return time.perf_counter() - start
            raise SystemExit(f"not refused: {spec}")

        return case

    def build() -> float:
        import time

        start = time.perf_counter()
        assert len(plan(allowed, registry)) == 10_000
        return time.perf_counter() - start

    cases = {name: refusal(spec) for name, (spec, _) in refused.items()}
    cases["build-10k"] = build
    samples = alternate(cases, args.rounds)
    print_samples(samples, title="plan_size: seconds per call")
    per_run = median(samples["build-10k"]) / 10_000
    targets = []
    for name, (_, runs) in refused.items():
        seconds = median(samples[name])
        targets.append(Target(f"{name} seconds", seconds, 1.0, "<=", "s"))
        targets.append(
            Target(
                f"{name} speed-up over building its {runs:,} runs",
                per_run * runs / seconds,
                100.0,
                ">=",
                "x",
                note=f"building measured on 10,000 runs: {per_run * 1e6:.1f} µs a run",
            )
        )
    return finish("plan_size", targets, json_out=args.json_out, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
