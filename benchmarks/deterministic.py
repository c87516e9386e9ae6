"""The cost of ``--deterministic``: the same train runs with and without torch's
deterministic algorithms, at the same thread count, alternating.

\b
    python benchmarks/deterministic.py                 # 5 rounds, 1 thread
    python benchmarks/deterministic.py --rounds 3 --threads 2

Each case runs two planned runs through ``run_experiment`` in this process, as
``--inline`` does: the lessons' CNN (batchnorm, general-relu, 256 training rows) and the
MLP (one epoch of mnist-5k). The deterministic side is the same plan with
``deterministic=True`` (``torch.use_deterministic_algorithms(True)`` for the run). It
also checks the claim that makes ``--deterministic`` worth having: each side, rerun,
gives bit-identical metrics (the timed ones aside), and on the CPU the two sides give
the same numbers.
"""

from __future__ import annotations

import sys

from _common import Target, alternate, finish, median, parser, print_table, ratio, set_threads

#: metrics that measure time
TIMED = ("epoch_time_s", "samples_per_s")


def planned_runs(deterministic: bool) -> tuple[list, object]:
    """The CNN and MLP train runs, planned as ``runner sweep --threads N`` would, and the registry."""
    import torch

    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.plan import plan
    from scratchlab.runner.spec import SweepSpec

    registry = load_plugins().registry
    threads = torch.get_num_threads()
    common = {"deterministic": deterministic, "threads": (threads,)}
    cnn = SweepSpec(
        experiments=("train",),
        components={"activation": ("general-relu",), "norm": ("batchnorm",)},
        settings={"train": {"model": "cnn", "n_train": 256, "log_every": 1}},
        **common,
    )
    mlp = SweepSpec(experiments=("train",), **common)
    return [*plan(cnn, registry), *plan(mlp, registry)], registry


def metrics_of(results: list) -> list[dict]:
    """Every stored metric but the timed ones, per run."""
    return [
        {(m.name, m.step): float(m.value) for m in result.metrics if m.name not in TIMED}
        for result in results
    ]


def main(argv: list[str] | None = None) -> int:
    """Alternate the two sides, check that reruns agree, print the cost."""
    import time

    from scratchlab.runner.run_one import run_experiment

    p = parser(__doc__.split("\n\n")[0], rounds=5, threads=True)
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    threads = set_threads(args.threads if args.threads is not None else 1)
    sides = {name: planned_runs(name == "deterministic") for name in ("default", "deterministic")}
    seen: dict[str, list] = {name: [] for name in sides}

    def case(name: str):
        runs, registry = sides[name]

        def measure() -> float:
            started = time.perf_counter()
            results = [run_experiment(registry, run) for run in runs]
            seconds = time.perf_counter() - started
            bad = [r for r in results if r.status != "done"]
            if bad:
                raise SystemExit(f"error: a {name} run ended {bad[0].status}: {bad[0].reason}")
            seen[name].append(metrics_of(results))
            return seconds

        return measure

    samples = alternate({name: case(name) for name in sides}, rounds=args.rounds)
    default, deterministic = median(samples["default"]), median(samples["deterministic"])
    reruns_agree = all(all(m == seen[n][0] for m in seen[n]) for n in seen)
    sides_agree = seen["default"][0] == seen["deterministic"][0]
    print_table(
        ("side", "median s (CNN + MLP)", "rounds", "reruns bit-identical"),
        [
            (n, f"{median(samples[n]):.3f}", len(samples[n]), all(m == seen[n][0] for m in seen[n]))
            for n in sides
        ],
        title=f"train with and without --deterministic, {threads} thread(s)",
    )
    print(f"default and deterministic metrics identical: {sides_agree}")
    targets = [
        Target(
            "deterministic / default run time",
            ratio(deterministic, default),
            1.25,
            note=f"medians of {args.rounds} alternating rounds, {threads} thread(s)",
        ),
        Target(
            "reruns with bit-identical metrics",
            float(reruns_agree),
            1.0,
            op=">=",
            note="every round of each side against its first, timed metrics aside",
        ),
    ]
    return finish("deterministic", targets, json_out=args.json_out, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
