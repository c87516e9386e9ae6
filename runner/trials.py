"""Running a search's trials with Optuna's ask-and-tell: :class:`SearchDriver`.

Optuna samples and prunes; our driver, workers, database, ``--repeat`` and ``--resume``
run the trials. The driver (:func:`~scratchlab.runner.execute.execute_sweep`) asks this
object for runs as results come in (it is the sweep's :class:`~scratchlab.runner.execute.Feed`):

- ``study.ask()`` a point of the :class:`~scratchlab.runner.search.Space`, plan its runs
  like any sweep's, store them (``Store.add_runs``: a run key the sweep already has keeps
  its run, so a point tried before is not run again) and hand out those not finished;
- when every run of a trial has its stored result, ``study.tell()`` it: ``COMPLETE`` with
  the mean of the runs' final objective values, ``PRUNED`` when the pruner stopped a run,
  ``FAIL`` otherwise (a run failed, timed out, was skipped, or lacks the objective);
- a value a run reports (``ctx.report``) of the objective goes to ``trial.report()``, and
  ``trial.should_prune()`` is the verdict.

The study lives in memory and is rebuilt from the stored runs when a search is resumed
(``add_trial`` for finished trials, ``enqueue_trial`` for unfinished ones, which run first):
the database stays the one record, with no second schema in it (docs/architecture.md says why).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scratchlab.core.records import FINAL_STATUSES, PlannedRun, RunResult
from scratchlab.runner.live import pruned_reason
from scratchlab.runner.search import SearchSpec, Space


def make_sampler(search: SearchSpec, seed: int) -> Any:
    """The Optuna sampler ``search`` names, seeded."""
    import optuna

    if search.method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def make_study(search: SearchSpec, seed: int) -> Any:
    """An in-memory Optuna study with the sampler and pruner ``search`` names."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)  # no "Trial 3 finished" line per trial
    sampler = make_sampler(search, seed)
    pruner = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }.get(search.prune, optuna.pruners.NopPruner)()
    return optuna.create_study(direction=search.direction, sampler=sampler, pruner=pruner)


@dataclass
class _Trial:
    trial: Any  # optuna.Trial
    run_ids: list[int]
    waiting: set[int] = field(default_factory=set)  # runs without a stored result yet
    reported: set[int] = field(default_factory=set)  # steps already given to trial.report


class SearchDriver:
    """Asks and tells one search's trials for the sweep driver (see the module docstring)."""

    def __init__(
        self,
        store: Any,
        sweep_id: int | None,
        space: Space,
        search: SearchSpec,
        registry: Any,
        *,
        parallel: int = 1,
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.store, self.sweep_id, self.space, self.search = store, sweep_id, space, search
        self.registry, self.parallel, self.warn = registry, max(1, parallel), warn
        self.seed = search.seed if search.seed is not None else space.base.seed
        self.study = make_study(search, self.seed)
        self.distributions = space.distributions()
        self.count = 0  # trials asked or rebuilt, out of search.trials
        self.status: dict[int, str] = {}  # run id -> its latest status, for the sweep's runs
        self.open: dict[int, _Trial] = {}  # trial number -> trial waiting for results
        self.of_run: dict[int, list[_Trial]] = {}  # run id -> the open trials it belongs to
        self.in_flight: set[int] = set()  # runs handed out, no result yet
        self.seen: dict[int, list[Any]] = {}  # run id -> the objective's records it sent
        self.backend: Any = None
        self._warned_objective = False
        self.queued = 0  # unfinished trials a resume queued to be asked first

    def attach(self, store: Any, sweep_id: int, backend: Any = None) -> None:
        """The database and sweep the trials are stored in (a new sweep gets its id late), and
        the backend that runs them (it decides what an ``auto`` thread count is)."""
        self.store, self.sweep_id, self.backend = store, sweep_id, backend

    @property
    def work_left(self) -> bool:
        """Whether trials remain to be asked (or queued ones to run)."""
        return self.queued > 0 or self.count < self.search.trials

    def runs_left(self) -> int:
        """About how many runs the rest of the search takes (for the progress display)."""
        spec = self.space.base
        per_trial = len(spec.devices) * len(spec.threads) * spec.repeat
        return max(self.search.trials - self.count, self.queued) * per_trial

    # -- the sweep driver's Feed ---------------------------------------------

    def start(self) -> list[tuple[int, PlannedRun]]:
        """The first runs: up to ``parallel`` trials (unfinished trials of a resume first)."""
        items: list[tuple[int, PlannedRun]] = []
        while len(self.open) < self.parallel and (batch := self._ask()) is not None:
            items.extend(batch)
        return items

    def observe(self, run_id: int, records: Sequence[Any]) -> None:
        """Keep the objective's values among a running run's metric batch (so telling its
        trial needs no query)."""
        wanted = [r for r in records if r.name == self.search.objective]
        self.seen.setdefault(run_id, []).extend(wanted)

    def more(self, run_id: int, planned: PlannedRun, result: RunResult) -> list[tuple[int, Any]]:
        """Record ``run_id``'s result; tell the trials it completes; ask for the next ones."""
        self.observe(run_id, result.metrics)
        self.status[run_id] = result.status
        self.in_flight.discard(run_id)
        for trial in self.of_run.pop(run_id, []):
            trial.waiting.discard(run_id)
            if not trial.waiting:
                self._tell(trial)
        return self.start()

    def judged(self, run_id: int) -> tuple[str, ...]:
        """The objective, when a pruner judges this search."""
        return (self.search.objective,) if self.search.prune != "none" else ()

    def judge(self, run_id: int, name: str, step: int, value: float) -> str | None:
        """``trial.report(value, step)`` then ``trial.should_prune()``; a reason to stop, or None."""
        trials = self.of_run.get(run_id)
        if not trials or name != self.search.objective:
            return None
        trial = trials[0]
        if step not in trial.reported:  # a repeat of the trial may report the same step
            trial.reported.add(step)
            trial.trial.report(value, step)
        if trial.trial.should_prune():
            return pruned_reason(name, step, value, self.search.prune)
        return None

    # -- asking and telling ----------------------------------------------------

    def _ask(self) -> list[tuple[int, PlannedRun]] | None:
        """Ask for trials until one has runs to hand out; None when the trial count is reached."""
        from scratchlab.runner.sweep_prepare import plan_runs
        from scratchlab.runner.threads import resolve as resolve_threads

        while self.count < self.search.trials:
            trial = self.study.ask(self.distributions)
            self.count += 1
            runs = plan_runs(self.space.spec_for(trial.params), self.registry)
            # auto thread counts become what the backend gives each run: part of its key
            runs = resolve_threads(runs, self.backend, self.registry)
            ids = self.store.add_runs(self.sweep_id, runs)
            run_ids = list(dict.fromkeys(ids[r.key] for r in runs))
            entry = _Trial(trial, run_ids)
            entry.waiting = {
                i for i in run_ids if self.status.get(i, "pending") not in FINAL_STATUSES
            }
            if not entry.waiting:  # a point tried before: its results are stored
                self._tell(entry)
                continue
            self.open[trial.number] = entry
            for run_id in entry.waiting:
                self.of_run.setdefault(run_id, []).append(entry)
            todo = [(ids[r.key], r) for r in runs if ids[r.key] in entry.waiting]
            # a run another open trial has handed out already counts for both; hand it out once
            todo = [item for item in dict(todo).items() if item[0] not in self.in_flight]
            self.in_flight.update(run_id for run_id, _ in todo)
            return todo
        return None

    def _tell(self, entry: _Trial) -> None:
        """Tell the study how a trial whose runs all have results ended."""
        from optuna.trial import TrialState

        self.open.pop(entry.trial.number, None)
        statuses = [self.status.get(i, "pending") for i in entry.run_ids]
        if "pruned" in statuses:
            self.study.tell(entry.trial, state=TrialState.PRUNED)
            return
        value = self._objective(entry.run_ids) if all(s == "done" for s in statuses) else None
        if value is None:
            self.study.tell(entry.trial, state=TrialState.FAIL)
        else:
            self.study.tell(entry.trial, value)

    def _objective(self, run_ids: Sequence[int]) -> float | None:
        """The mean final objective value of ``run_ids``, or None when a run lacks it: from
        what the runs sent this session, else (a point run before a resume) the database."""
        import math

        from scratchlab.db.final import final_rows

        if all(i in self.seen for i in run_ids):
            finals = [row[3] for i in run_ids for row in final_rows(i, self.seen[i])]
        else:
            from scratchlab.db.results import final_metrics

            table = final_metrics(self.store, run_ids=list(run_ids), names=[self.search.objective])
            finals = list(table["value"])
        values = [float(v) for v in finals if v is not None and not math.isnan(float(v))]
        if len(values) == len(run_ids):
            return sum(values) / len(values)
        if not self._warned_objective:
            self._warned_objective = True
            self.warn(
                f"run {run_ids[0]} finished without a value of {self.search.objective!r};"
                " its trial counts as failed (check --objective against the experiment's metrics)"
            )
        return None

    # -- resuming ------------------------------------------------------------

    def rebuild(self) -> None:
        """Put the sweep's stored trials back into the study: finished ones as they ended,
        unfinished ones queued to be asked (and run) first."""
        import optuna
        from optuna.trial import TrialState

        from scratchlab.db.queries import planned_runs
        from scratchlab.db.results import metrics
        from scratchlab.runner.run_keys import canonical_json

        rows = self.store.sweep_runs(self.sweep_id)
        self.status = {r["run_id"]: r["status"] for r in rows}
        groups: dict[str, list[tuple[int, PlannedRun]]] = {}
        for run_id, run in zip(
            self.status, planned_runs(self.store, list(self.status)), strict=True
        ):
            point = canonical_json([run.experiment, run.components, run.params])
            groups.setdefault(point, []).append((run_id, run))
        history = metrics(self.store, run_ids=list(self.status), names=[self.search.objective])
        history = history.dropna(subset=["step", "value"])
        by_run = {
            int(run_id): dict(
                zip(part["step"].astype(int), part["value"].astype(float), strict=True)
            )
            for run_id, part in history.groupby("run_id")
        }
        for group in groups.values():
            values = self.space.values_of(group[0][1])
            run_ids = [run_id for run_id, _ in group]
            statuses = [self.status[i] for i in run_ids]
            if any(s not in FINAL_STATUSES for s in statuses):
                with (
                    warnings.catch_warnings()
                ):  # values outside the space (a changed range) are resampled
                    warnings.simplefilter("ignore")
                    self.study.enqueue_trial(values)
                self.queued += 1
                continue
            self.count += 1
            value = self._objective(run_ids) if all(s == "done" for s in statuses) else None
            state = (
                TrialState.PRUNED
                if "pruned" in statuses
                else TrialState.FAIL
                if value is None
                else TrialState.COMPLETE
            )
            self.study.add_trial(
                optuna.trial.create_trial(
                    state=state,
                    value=value if state == TrialState.COMPLETE else None,
                    params=values,
                    distributions={k: self.distributions[k] for k in values},
                    intermediate_values=by_run.get(run_ids[0], {}),
                )
            )
        # the same seed again would draw the points the first trials drew
        self.study.sampler = make_sampler(self.search, self.seed + self.count + self.queued)
