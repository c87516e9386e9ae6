"""The supervised backend's queue: the order runs go in, and which run goes to which worker
(no processes: workers here are stand-ins with a pipe that records what it is sent)."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

import pytest

from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec
from scratchlab.runner.workqueue import SEND_AHEAD_MAX, WorkQueue, make_tasks


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def worker(task=None, *, ready=True):
    """A stand-in worker: what the queue reads of a WorkerHandle, and what it is sent."""
    sent: list[tuple] = []

    def hand(task, message):
        stand_in.task = task
        sent.append(message)

    stand_in = SimpleNamespace(
        task=task,
        ready=ready,
        queued=deque(),
        retiring=False,
        conn=SimpleNamespace(send=sent.append),
        hand=hand,
        sent=sent,
    )
    return stand_in


def test_shared_runs_go_slowest_first_and_exclusive_runs_last(plugins):
    runs = plan(SweepSpec(plugins=("matmul",), experiments=("matmul", "train")), plugins.registry)
    order = [
        (t.planned.experiment, t.planned.components["matmul"], t.alone)
        for t in make_tasks(plugins.registry, list(enumerate(runs)), cores=2, workers=2)
    ]
    shared = [o for o in order if not o[2]]
    assert order[: len(shared)] == shared  # every exclusive run comes after every shared one
    assert {o[0] for o in order if o[2]} == {"matmul"}  # the built-in matmul experiment runs alone
    # train runs, slowest strategy first (python, elementwise, broadcast, then einsum/torch)
    assert [o[1] for o in shared][:3] == ["python", "elementwise", "broadcast"]


def test_runs_start_only_where_their_cores_are_free_and_an_exclusive_run_alone(plugins):
    runs = plan(SweepSpec(plugins=("matmul",), experiments=("matmul", "train")), plugins.registry)
    tasks = make_tasks(plugins.registry, list(enumerate(runs)), cores=2, workers=2)
    queue = WorkQueue(cores=2)
    queue.add(tasks)
    workers = [worker(), worker()]
    message = lambda task: (task.run_id,)  # noqa: E731
    handed = queue.dispatch(workers, message)
    assert handed == [tasks[0].run_id, tasks[1].run_id]  # one core each: both workers busy
    assert [w.sent for w in workers] == [[(tasks[0].run_id,)], [(tasks[1].run_id,)]]

    # the shared runs are done; the next is exclusive: it waits while anything runs
    queue.restart([t for t in tasks if t.alone])
    workers[0].task = None
    assert queue.dispatch(workers, message) == []
    workers[1].task = None
    first = queue.dispatch(workers, message)
    assert len(first) == 1  # alone: the other idle worker gets nothing beside it
    assert queue.dispatch(workers, message) == []


def test_runs_are_sent_ahead_only_when_known_to_be_short(plugins):
    """A run put in a busy worker's pipe waits there, so only runs seen to be short go
    there, and only behind a short run: the main job's 12 s elementwise training runs
    once queued two deep in one worker while the other worker idled."""
    runs = plan(SweepSpec(plugins=("matmul", "init"), experiments=("train",)), plugins.registry)
    tasks = make_tasks(plugins.registry, list(enumerate(runs)), cores=2, workers=2)
    slow = [t for t in tasks if t.planned.components["matmul"] == "elementwise"]
    fast = [t for t in tasks if t.planned.components["matmul"] == "torch"]
    busy = worker(slow[0])
    queue = WorkQueue(cores=2)
    message = lambda task: (task.run_id,)  # noqa: E731

    queue.restart(slow[1:])
    queue.send_ahead([busy], message)  # a kind not seen yet: its length is unknown
    queue.took(slow[0], 12.0)
    queue.send_ahead([busy], message)  # a kind seen to be long
    assert not busy.queued and not busy.sent

    queue.took(fast[0], 0.01)
    queue.restart(fast[1:])
    queue.send_ahead([busy], message)  # short, but behind a long run
    assert not busy.queued

    busy.task = fast[0]
    queue.send_ahead([busy], message)  # short behind short: the pipe fills
    assert list(busy.queued) == fast[1 : 1 + SEND_AHEAD_MAX] and len(busy.sent) == SEND_AHEAD_MAX
    assert len(queue) == len(fast) - 1 - SEND_AHEAD_MAX

    queue.requeue(busy)  # the worker died: what was in its pipe runs first
    assert list(queue)[:SEND_AHEAD_MAX] == fast[1 : 1 + SEND_AHEAD_MAX] and not busy.queued
