"""Run management: ``runner sweeps``, ``runner tag``, ``runner note`` and ``runner rm``.

None of these import torch or load plugins. ``runner sweeps`` opens the database
read-only; the others write one transaction each, and an unknown id, a bad tag or a
live sweep is one line on stderr with exit code 1, with nothing changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from scratchlab.runner.cli.common import _console, _echo_json, database_errors
from scratchlab.runner.options import DB_ID


def _store(state, *, read_only: bool = False):
    from scratchlab.db import open_store

    with database_errors():
        return open_store(state.db_url, read_only=read_only)


@click.command(name="sweeps")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Only sweeps with this tag (repeatable: any of them).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: a list of sweeps with their counts per status.",
)
@click.pass_obj
def sweeps_list(state, tags: tuple[str, ...], as_json: bool) -> None:
    """List sweeps: id, name (with its tags), status, runs per status, start and
    duration, oldest first. The ids are what --resume, --sweep and rm --sweep take.

    \b
    Examples:
      runner sweeps
      runner sweeps --tag baseline --json
    """
    from scratchlab.db import queries
    from scratchlab.db.annotations import sweep_tags
    from scratchlab.reports.management import sweep_records, sweeps_table

    with database_errors(), _store(state, read_only=True) as store:
        sweeps = queries.list_sweeps(store)
        tagged = sweep_tags(store)
    if tags:
        keep = [any(t in tagged.get(int(s), []) for t in tags) for s in sweeps["sweep_id"]]
        sweeps = sweeps[keep]
    if as_json:
        _echo_json(sweep_records(sweeps, tagged))
    elif sweeps.empty:
        click.echo("no sweeps" + (f" tagged {', '.join(tags)}" if tags else " yet"), err=True)
    else:
        _console().print(sweeps_table(sweeps, tagged))


@click.command(name="tag")
@click.argument("args", nargs=-1, required=True, metavar="[RUN_ID...] TAG")
@click.option(
    "--sweep",
    "sweep_id",
    type=DB_ID,
    metavar="ID",
    help="Tag this sweep (and so every run of it) instead of runs.",
)
@click.option("--remove", is_flag=True, help="Take the tag off instead.")
@click.pass_obj
def runs_tag(state, args: tuple[str, ...], sweep_id: int | None, remove: bool) -> None:
    """Tag runs, or a whole sweep, with TAG; runner runs --where tag=TAG (and the
    app's tag filter) then finds them. A sweep's tag covers every run of it.

    \b
    Examples:
      runner tag 42 43 best
      runner tag --sweep 3 baseline
      runner tag --remove 42 best
    """
    from scratchlab.db.annotations import add_tags, remove_tags

    *ids, tag = args
    if sweep_id is not None and ids:
        raise click.UsageError("give run ids or --sweep, not both")
    if sweep_id is None and not ids:
        raise click.UsageError("give the run ids to tag before the tag (or --sweep ID)")
    owner, targets = ("sweep", [sweep_id]) if sweep_id is not None else ("run", _ids(ids))
    with database_errors(), _store(state) as store:
        changed = (remove_tags if remove else add_tags)(store, owner, targets, [tag])
    what = f"sweep {sweep_id}" if sweep_id is not None else _runs_text(targets)
    verb = "untagged" if remove else "tagged"
    click.echo(f"{verb} {what} {'from' if remove else 'with'} {tag.strip()!r} ({changed} changed)")


def _ids(texts: Sequence[str]) -> list[int]:
    ids = []
    for text in texts:
        try:
            ids.append(DB_ID.convert(text, None, None))
        except click.BadParameter as exc:
            raise click.BadParameter(f"{text!r}: {exc.message}", param_hint="RUN_ID") from None
    return ids


def _runs_text(run_ids: Sequence[int]) -> str:
    return f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"


@click.command(name="note")
@click.argument("run_id", type=DB_ID)
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the run's note.")
@click.pass_obj
def run_note(state, run_id: int, text: str | None, clear: bool) -> None:
    """Set run RUN_ID's note to TEXT (runner show and the app's Run page show it);
    without TEXT, print the note.

    \b
    Examples:
      runner note 42 "diverged: lr 2 is too high for adam"
      runner note 42
      runner note 42 --clear
    """
    from scratchlab.db.annotations import note_of, set_note

    if clear and text is not None:
        raise click.UsageError("give TEXT or --clear, not both")
    if text is None and not clear:
        with database_errors(), _store(state, read_only=True) as store:
            note = note_of(store, run_id)
        click.echo(note) if note else click.echo(f"run {run_id} has no note", err=True)
        return
    with database_errors(), _store(state) as store:
        set_note(store, run_id, None if clear else text)
    click.echo(f"run {run_id}: note {'cleared' if clear or not (text or '').strip() else 'set'}")


@click.command(name="rm")
@click.argument("run_ids", nargs=-1, type=DB_ID, metavar="[RUN_ID...]")
@click.option(
    "--sweep", "sweep_id", type=DB_ID, metavar="ID", help="Delete this sweep and all its runs."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def runs_remove(state, run_ids: tuple[int, ...], sweep_id: int | None, yes: bool) -> None:
    """Delete runs, or a whole sweep, with everything they recorded (params, timings,
    statistics, metrics, tags, notes). Asks first (--yes skips the question); refuses
    while the sweep's driver is still running it.

    \b
    Examples:
      runner rm 42 43
      runner rm --sweep 3 --yes
    """
    from scratchlab.db.deletion import delete_runs, delete_sweep, sweep_run_ids

    if sweep_id is not None and run_ids:
        raise click.UsageError("give run ids or --sweep, not both")
    if sweep_id is None and not run_ids:
        raise click.UsageError("give the run ids to delete, or --sweep ID")
    with database_errors(), _store(state) as store:
        if sweep_id is not None:
            count = len(sweep_run_ids(store, sweep_id))
            question = f"Delete sweep {sweep_id} and its {count} run(s) with all their results?"
        else:
            question = f"Delete {_runs_text(list(run_ids))} with all their results?"
        if not yes:
            click.confirm(question, abort=True, err=True)
        deleted = (
            delete_sweep(store, sweep_id) if sweep_id is not None else delete_runs(store, run_ids)
        )
    what = f"sweep {sweep_id} and " if sweep_id is not None else ""
    click.echo(f"deleted {what}{len(deleted.run_ids)} run(s)")
