"""The torch thread count is part of a run's identity (issue 21): every run stores the count it
ran with and its key counts it; the same configuration at the same count stores bit-identical
metrics inline, on the default workers and on a local Dask cluster; ``--deterministic``."""

from __future__ import annotations

import pytest

from scratchlab.runner.environment import usable_cpus

#: metrics that measure time, the only ones that may differ between two equal runs
TIMED = ("epoch_time_s", "samples_per_s")


def stored(results, sweep_id: int) -> dict[str, dict]:
    """key -> {"threads": param, "metrics": {(name, step): value}} of one sweep."""
    out = {}
    for run_id, key in results.query("SELECT run_id, key FROM runs WHERE sweep_id = ?", sweep_id):
        rows = results.query(
            "SELECT value_num FROM params WHERE run_id = ? AND name = 'threads'", run_id
        )
        threads = rows[0][0] if rows else None
        metrics = {
            (name, step): value
            for name, step, value in results.query(
                "SELECT name, step, value FROM metrics WHERE run_id = ?", run_id
            )
        }
        out[key] = {"threads": threads, "metrics": metrics}
    return out


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_every_run_stores_the_count_it_ran_with_and_its_key_counts_it(sweep, results):
    """``auto`` is every usable core inline and ``cores // workers`` beside other runs: the
    count is stored, equals what torch reported inside the run, and the keys differ exactly
    when the counts do (they were one key with two results before)."""
    workers = max(2, usable_cpus())
    assert sweep("--experiments", "sleepy", "-s", "sleepy.seconds=0", "--inline").exit_code == 0
    assert (
        sweep(
            "--experiments", "sleepy", "-s", "sleepy.seconds=0", "--workers", str(workers)
        ).exit_code
        == 0
    )
    inline, pooled = (stored(results, sweep_id) for sweep_id in (1, 2))
    ((inline_key, inline_run),) = inline.items()
    ((pooled_key, pooled_run),) = pooled.items()
    assert inline_run["threads"] == usable_cpus()
    assert pooled_run["threads"] == max(1, usable_cpus() // workers)
    for run in (inline_run, pooled_run):
        assert run["metrics"][("threads", None)] == run["threads"]
    assert (inline_key == pooled_key) == (inline_run["threads"] == pooled_run["threads"])


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_resume_keeps_each_runs_thread_count(sweep, results):
    """A failed run is resumed at the count it was stored with, under its key."""
    args = ("--experiments", "boom", "--matmul", "toy-a", "--threads", "auto")
    assert sweep(*args, "--inline").exit_code == 1
    (before,) = results.query("SELECT key FROM runs")
    resumed = sweep("--resume", "1", "--workers", "2")
    assert resumed.exit_code == 1, resumed.output
    assert "no longer match" not in resumed.output
    assert results.query("SELECT key FROM runs") == [before]


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_deterministic_fixes_auto_threads_at_one_and_is_part_of_the_key(sweep, results):
    args = ("--experiments", "sleepy", "-s", "sleepy.seconds=0")
    assert sweep(*args, "--inline", "--deterministic").exit_code == 0
    assert sweep(*args, "--workers", "2", "--deterministic").exit_code == 0
    assert sweep(*args, "--inline", "--threads", "1").exit_code == 0
    (first,), (second,), (plain,) = (stored(results, s) for s in (1, 2, 3))
    assert first == second  # same key in both modes: one thread each
    (flags,) = results.query(
        "SELECT value_text FROM params WHERE name = 'deterministic' AND run_id = 1"
    )
    assert flags == ("true",)
    assert plain != first  # the same run without --deterministic is another run
    assert not results.query("SELECT 1 FROM params WHERE name = 'deterministic' AND run_id = 3")


@pytest.mark.slow
def test_same_configuration_same_thread_count_gives_identical_metrics_in_every_mode(sweep, results):
    """A short CNN training run at 1 thread, inline, on the default workers and on a local Dask
    cluster: one key, and every stored metric but the timed ones bit-identical."""
    pytest.importorskip("distributed")
    args = (
        "--experiments",
        "train",
        "--activation",
        "general-relu",
        "--norm",
        "batchnorm",
        "-s",
        "train.model=cnn",
        "-s",
        "train.n_train=192",
        "-s",
        "train.log_every=1",
        "-s",
        "train.lr=1.5",
        "--threads",
        "1",
    )
    for mode in (("--inline",), (), ("--scheduler", "local", "--workers", "1")):
        result = sweep(*args, *mode, plugins=())
        assert result.exit_code == 0, result.output
    runs = [stored(results, sweep_id) for sweep_id in (1, 2, 3)]
    keys = {key for run in runs for key in run}
    assert len(keys) == 1
    (key,) = keys
    compared = [{k: v for k, v in run[key]["metrics"].items() if k[0] not in TIMED} for run in runs]
    assert len(compared[0]) > 5  # train_loss per step, lr, valid loss and accuracy
    assert compared[0] == compared[1] == compared[2]
    assert all(run[key]["threads"] == 1 for run in runs)


def test_a_config_file_asks_for_deterministic_runs_at_one_thread(tmp_path):
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.plan import plan
    from scratchlab.runner.spec import SweepSpec
    from scratchlab.runner.spec_config import load_config

    config = tmp_path / "sweep.toml"
    config.write_text('experiments = "gradcheck"\ndeterministic = true\n')
    spec = SweepSpec(**load_config(config))
    (run,) = plan(spec, load_plugins().registry)
    assert (run.deterministic, run.threads) == (True, 1)
    config.write_text('experiments = "gradcheck"\ndeterministic = "yes"\n')
    with pytest.raises(Exception, match="deterministic must be true or false"):
        load_config(config)
