"""The supervised backend's queue: which run a worker gets next, and what may run beside what.

:func:`make_tasks` turns planned runs into :class:`Task` objects in the order they run:
shared runs first, slowest-looking first (a matmul strategy with a smaller ``max_madds`` is
slower), then the runs of experiments declared ``exclusive``. :class:`WorkQueue` hands them to
idle workers while they fit: a run holds as many cores as it has torch threads and starts only
when they are free; an exclusive run waits until nothing else runs and every worker is ready,
and nothing starts beside it. While runs are short, the next one is sent ahead into a busy
worker's pipe (:meth:`WorkQueue.send_ahead`). Workers are
:class:`~scratchlab.runner.workerproc.WorkerHandle` objects; nothing here starts or stops one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from scratchlab.core.records import PlannedRun
from scratchlab.runner.execute import Items, run_threads

#: a run is sent ahead to a busy worker when a run of its kind (see :func:`run_kind`)
#: took less than this many seconds earlier in the sweep ...
SEND_AHEAD_BELOW = 1.0
#: ... and at most this many per worker (one when that run took more than a tenth of that)
SEND_AHEAD_MAX = 4

#: what a worker is sent for a task (the supervisor's: the run, its timeout, threads, live options)
Message = Callable[["Task"], tuple]


def cost_hints(registry: Any, planned: PlannedRun) -> dict[str, float]:
    """The run's components that declare a cost hint, by name: ``max_madds``, the largest
    problem a component is fit for (a matmul strategy's; smaller is slower). Which category
    declares one does not matter: a plugin's component type may carry a ``max_madds`` too."""
    hints = {}
    for category, name in sorted(planned.components.items()):
        hint = getattr(registry.get(category, name).component, "max_madds", None)
        if hint is not None:
            hints[name] = float(hint)
    return hints


def run_kind(planned: PlannedRun, hints: dict[str, float]) -> tuple[str, tuple[str, ...]]:
    """Runs that take about as long as each other: one experiment with the same components
    that carry a cost hint (those are what make a run slow: the elementwise matmul loops
    over every output element in Python, torch's takes milliseconds)."""
    return planned.experiment, tuple(hints)


@dataclass
class Task:
    """One run as the queue holds it."""

    run_id: int
    planned: PlannedRun
    threads: int
    cores: int  # cores it holds while it runs
    alone: bool  # exclusive: nothing else runs beside it
    kind: tuple[str, tuple[str, ...]] = ("", ())  # see run_kind
    slowness: float = float("inf")  # smaller is slower: the smallest cost hint


def make_tasks(registry: Any, items: Items, *, cores: int, workers: int) -> list[Task]:
    """``items`` as tasks in the order they run: shared runs slowest-looking first, then the
    exclusive ones (their experiment says ``exclusive``: its results are timings)."""
    tasks = []
    for run_id, planned in items:
        experiment = registry.get("experiment", planned.experiment).component
        alone = bool(getattr(experiment, "exclusive", False))
        threads = run_threads(planned, exclusive=alone, cores=cores, workers=workers)
        hints = cost_hints(registry, planned)
        slowness = min(hints.values(), default=float("inf"))  # the smallest hint
        kind = run_kind(planned, hints)
        tasks.append(Task(run_id, planned, threads, min(threads, cores), alone, kind, slowness))
    order = {id(t): i for i, t in enumerate(tasks)}
    return sorted(tasks, key=lambda t: (t.alone, t.slowness, order[id(t)]))


class WorkQueue:
    """The runs not handed out yet, and how long each kind of run took so far."""

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self.tasks: deque[Task] = deque()
        self.seconds: dict[tuple, float] = {}  # run kind -> how long its last run took

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def restart(self, tasks: Sequence[Task]) -> None:
        """A new round of runs: ``tasks`` replace what an interrupted round left; the run
        lengths seen so far are kept."""
        self.tasks.clear()
        self.tasks.extend(tasks)

    def add(self, tasks: Sequence[Task]) -> None:
        """Queue ``tasks`` behind those already waiting."""
        self.tasks.extend(tasks)

    def all_alone(self) -> bool:
        """Whether every waiting run runs alone (then one worker is enough)."""
        return all(t.alone for t in self.tasks)

    def took(self, task: Task, seconds: float) -> None:
        """A run of ``task``'s kind took ``seconds``."""
        self.seconds[task.kind] = seconds

    def requeue(self, worker: Any) -> None:
        """Put the runs sent ahead to ``worker``, which is gone, back at the head of the queue."""
        while worker.queued:
            self.tasks.appendleft(worker.queued.pop())

    def take(self, unwanted: Callable[[Task], bool]) -> list[Task]:
        """Take the waiting tasks ``unwanted`` says yes to out of the queue."""
        out = [t for t in self.tasks if unwanted(t)]
        kept = [t for t in self.tasks if not unwanted(t)]
        self.tasks.clear()
        self.tasks.extend(kept)
        return out

    def dispatch(self, workers: Sequence[Any], message: Message) -> list[int]:
        """Hand the head of the queue to idle workers while it fits beside what runs, then
        send runs ahead; the run ids handed out (not those sent ahead: they start later)."""
        handed: list[int] = []
        queue = self.tasks
        while queue:
            busy = [w for w in workers if w.task is not None]
            idle = [w for w in workers if w.task is None and w.ready]
            if not idle or any(w.task.alone for w in busy):
                break
            task = queue[0]
            if task.alone:
                # alone means alone: no run and no starting worker beside it
                if busy or not all(w.ready for w in workers):
                    break
            elif busy and sum(w.task.cores for w in busy) + task.cores > self.cores:
                break
            queue.popleft()
            idle[0].hand(task, message(task))
            handed.append(task.run_id)
        self.send_ahead(workers, message)
        return handed

    def send_ahead(self, workers: Sequence[Any], message: Message) -> None:
        """While runs are short, put the next run in each busy worker's pipe, so that it starts
        it without waiting for the driver (on a loaded machine every wake-up of the driver costs
        milliseconds). Only a shared run with the same cores as the one it follows, so the core
        count and exclusivity hold; only where both are of a kind (:func:`run_kind`) seen to take
        under :data:`SEND_AHEAD_BELOW`, so that no run waits behind a long one."""
        queue = self.tasks
        for worker in workers:
            while queue and not queue[0].alone:
                task = queue[0]
                # only runs known to be short, behind runs known to be short: a run queued behind
                # a long one waits there while another worker idles (the main job's elementwise
                # training runs, 12 s each, ended up two in one worker's pipe)
                if not self.short(task):
                    return
                depth = SEND_AHEAD_MAX if self.seconds[task.kind] < SEND_AHEAD_BELOW / 10 else 1
                if (
                    len(worker.queued) >= depth
                    or worker.task is None
                    or worker.retiring
                    or worker.task.alone
                    or worker.task.cores != task.cores
                    or not self.short(worker.task)
                ):
                    break
                queue.popleft()
                worker.queued.append(task)
                worker.conn.send(message(task))

    def short(self, task: Task) -> bool:
        """Whether a run of ``task``'s kind took under :data:`SEND_AHEAD_BELOW` earlier in the sweep."""
        seconds = self.seconds.get(task.kind)
        return seconds is not None and seconds <= SEND_AHEAD_BELOW
