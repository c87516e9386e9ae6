"""Run every benchmark script, each with a timeout, and print one summary table.

\b
    python benchmarks/run_all.py                      # everything
    python benchmarks/run_all.py --only train_overhead,cli_startup
    python benchmarks/run_all.py --markdown           # the summary as a Markdown table too

Each script runs as its own subprocess (a fresh interpreter, so one script's
imports and allocations cannot slow the next) and its output is shown as it
comes. A script whose ``--help`` lists ``--json-out`` (every script built on
``_common.parser``) reports its targets as JSON; for the others, the lines of
their output that say PASS or FAIL, or else their last table, are carried
into the summary verbatim, and their exit code decides. The exit code is 0 when every
script ran and every target it reported passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO, Target, machine, print_table, target_rows

HERE = Path(__file__).resolve().parent

#: the scripts, in the order they run: (name, what it measures)
SCRIPTS: tuple[tuple[str, str], ...] = (
    ("train_overhead", "train experiment vs the lessons' hand-written loop"),
    ("timing_fidelity", "stored matmul timings vs a bare torch.utils.benchmark"),
    ("deterministic", "train runs with --deterministic vs without, same thread count"),
    ("vml_first_call", "gradcheck in fresh processes, MKL kernels resolved first vs not"),
    ("noisy_detection", "timings spoiled by busy loops are stored noisy, quiet ones ok"),
    ("main_job", "the README's main job by default vs --inline"),
    ("cli_startup", "runner --help / runner runs vs python -c pass"),
    ("db_write", "our write path vs raw sqlite3"),
    ("sweep_overhead", "per-run sweep overhead, 2-worker speed-up"),
    ("small_sweep", "a one-run sweep by default vs --inline and import torch"),
    ("plugin_load", "loading the plugins vs loading them and hashing every component"),
    ("worker_start", "a worker's start to ready: forked from the torch forkserver vs spawned"),
    ("plan_size", "a plan past the run limit refused vs built"),
    ("report_pages", "report page times at 10,000 runs"),
    ("scale", "runner runs and database size at 1k, 10k and 100k runs"),
)

#: scripts that need more than ``--timeout`` by design: seconds each gets at least
#: (the main job runs the README's sweep twice per round, about 3.5 minutes a round)
MIN_TIMEOUTS: dict[str, float] = {"main_job": 1200.0, "scale": 900.0}

#: a line of a script's own table that carries a verdict
VERDICT = re.compile(r"\b(PASS(ED)?|FAIL(ED)?)\b", re.IGNORECASE)


@dataclass
class Outcome:
    """What one script gave: its exit code, targets (from JSON) or verdict lines (from text)."""

    name: str
    status: str  # "ran", "missing", "timeout", "crashed"
    seconds: float = 0.0
    returncode: int | None = None
    targets: list[dict] = field(default_factory=list)
    verbatim: list[str] = field(default_factory=list)  # its verdict lines, else its last table

    @property
    def ok(self) -> bool:
        """The script ran to the end and nothing it reported failed."""
        if self.status != "ran":
            return False
        if self.targets:
            return all(t["passed"] for t in self.targets)
        return self.returncode == 0 and not any(
            (match := VERDICT.search(line)) and match.group(1).upper().startswith("FAIL")
            for line in self.verbatim
        )


def script_options(script: Path) -> set[str]:
    """The long options a script's ``--help`` lists (``--json-out``, ``--threads``, ...)."""
    probe = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return (
        set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", probe.stdout))
        if probe.returncode == 0
        else set()
    )


def _pump(stream, sink: list[str]) -> None:
    # echo the child's output as it comes, so a slow benchmark shows progress
    for line in iter(stream.readline, ""):
        sys.stdout.write(line)
        sys.stdout.flush()
        sink.append(line.rstrip("\n"))


def run_script(
    name: str, timeout: float, scratch: Path, threads: int | None = None, rounds: int | None = None
) -> Outcome:
    """Run ``benchmarks/<name>.py`` with ``timeout`` seconds, showing its output.

    ``--json-out`` is passed to a script that lists it, and ``--threads`` and
    ``--rounds`` (when given) to one that takes them.
    """
    script = HERE / f"{name}.py"
    if not script.exists():
        return Outcome(name, "missing")
    json_path = scratch / f"{name}.json"
    argv = [sys.executable, str(script)]
    options = script_options(script)
    if "--json-out" in options:
        argv += ["--json-out", str(json_path)]
    for option, value in (("--threads", threads), ("--rounds", rounds)):
        if value is not None and option in options:
            argv += [option, str(value)]
    print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
    lines: list[str] = []
    start = time.perf_counter()
    # stderr joins stdout: the progress lines belong with the table they lead to
    # its own process group: on a timeout the script's children (a sweep and its
    # workers) go too, instead of running on and loading the next script's numbers
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        returncode = process.wait(timeout=timeout)
        status = "ran"
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        returncode = process.wait()
        status = "timeout"
    reader.join(timeout=5)
    outcome = Outcome(name, status, time.perf_counter() - start, returncode)
    if json_path.exists():
        outcome.targets = json.loads(json_path.read_text())["targets"]
    elif status == "ran":
        outcome.verbatim = [line.strip() for line in lines if VERDICT.search(line)] or last_block(
            lines
        )
        if returncode != 0 and not outcome.verbatim:
            outcome.status = "crashed"
    return outcome


def last_block(lines: list[str], limit: int = 30) -> list[str]:
    """The last paragraph of a script's output (its final table, by convention), at most ``limit`` lines."""
    block: list[str] = []
    for line in reversed(lines):
        if not line.strip():
            if block:
                break
            continue
        block.append(line.rstrip())
    return block[::-1][-limit:]


def summary_rows(outcomes: list[Outcome]) -> list[tuple[str, str, str, str, str]]:
    """Rows (script, target, measured, target value, result) of the summary table."""
    rows: list[tuple[str, str, str, str, str]] = []
    for o in outcomes:
        if o.targets:
            targets = [
                Target(t["name"], t["measured"], t["limit"], t["op"], t["unit"]) for t in o.targets
            ]
            rows.extend((o.name, *row) for row in target_rows(targets))
        elif o.verbatim:
            verdict = "(its output)" if o.ok else f"(its output, exit code {o.returncode})"
            rows.extend((o.name, line, "", "", verdict) for line in o.verbatim)
        else:
            detail = {
                "missing": "script not written yet",
                "timeout": f"stopped after {o.seconds:.0f} s",
                "crashed": f"exit code {o.returncode}, see its output above",
                "ran": f"exit code {o.returncode}, no verdict printed",
            }[o.status]
            rows.append((o.name, detail, "", "", o.status.upper()))
    return rows


def print_markdown(outcomes: list[Outcome]) -> None:
    """The summary as Markdown (for docs/performance.md): one table of the targets
    reported as JSON, then each other script's own table in a code block."""
    headers = ("script", "target", "measured", "target value", "result")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in summary_rows([o for o in outcomes if not o.verbatim]):
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    print(
        "".join(
            f"| {o.name} | its own table, below | | | {'ran' if o.ok else 'FAILED'} |\n"
            for o in outcomes
            if o.verbatim
        ),
        end="",
    )
    for o in outcomes:
        if o.verbatim:
            print(f"\n`{o.name}` (exit code {o.returncode}):\n\n```text")
            print("\n".join(o.verbatim))
            print("```")


def describe_machine() -> dict[str, object]:
    """The machine, with torch's version and thread count (imported here, in the driver only)."""
    import torch  # noqa: F401  (machine() reports torch only once it is imported)

    return machine()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options, and the scripts ``--only`` selects (all of them without it)."""
    names = [name for name, _ in SCRIPTS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help=f"comma-separated scripts to run (of: {', '.join(names)})")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per script (default 300; main_job gets at least 1200, scale 900)",
    )
    p.add_argument(
        "--threads", type=int, help="torch threads, passed to the scripts that take --threads"
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="rounds, passed to every script that takes --rounds (a quick look: 3)",
    )
    p.add_argument(
        "--markdown", action="store_true", help="also print the summary as a Markdown table"
    )
    p.add_argument(
        "--json-out", type=Path, help="write every script's targets to this file as JSON"
    )
    args = p.parse_args(argv)
    if not args.only:
        return args, names
    selected = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(selected) - set(names))
    if unknown:
        p.error(f"unknown script(s) {', '.join(unknown)}; known: {', '.join(names)}")
    return args, selected


def run_selected(selected: list[str], args: argparse.Namespace) -> list[Outcome]:
    """Run each selected script in turn, with its timeout, in one scratch folder for the JSON."""
    with tempfile.TemporaryDirectory(prefix="scratchlab-bench-") as scratch:
        return [
            run_script(
                name,
                max(args.timeout, MIN_TIMEOUTS.get(name, 0.0)),
                Path(scratch),
                args.threads,
                args.rounds,
            )
            for name in selected
        ]


def print_summary(outcomes: list[Outcome]) -> None:
    """The summary table of every script's targets, then how long each script took."""
    print()
    print_table(
        ("script", "target", "measured", "target value", "result"),
        summary_rows(outcomes),
        title="summary",
    )
    print(
        "\nscript times: " + ", ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes if o.seconds)
    )


def write_json(path: Path, info: dict[str, object], outcomes: list[Outcome]) -> None:
    """The machine and every script's outcome, as JSON."""
    scripts = [
        {
            "name": o.name,
            "status": o.status,
            "seconds": o.seconds,
            "returncode": o.returncode,
            "targets": o.targets,
            "verbatim": o.verbatim,
        }
        for o in outcomes
    ]
    path.write_text(json.dumps({"machine": info, "scripts": scripts}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the selected scripts and print the summary; exit 0 when everything passed."""
    args, selected = parse_args(argv)
    info = describe_machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    outcomes = run_selected(selected, args)
    print_summary(outcomes)
    if args.markdown:
        print()
        print_markdown(outcomes)
    if args.json_out is not None:
        write_json(args.json_out, info, outcomes)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
