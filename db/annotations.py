"""Tags and notes: what a person says about runs and sweeps (``runner tag``, ``runner note``).

A tag is a short label on a run or on a sweep; a sweep's tag applies to every
run of the sweep, the ones a search adds after the tag included, so
``--where tag=T`` (:mod:`scratchlab.db.scope`) matches a run tagged T or a run
of a sweep tagged T. A note is one free text per run, kept apart from the
run's ``reason`` (what the run itself said). Each write is one transaction
and leaves everything as it was when an id is wrong.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from sqlalchemy import delete, select, union, update

from scratchlab.db import models as m
from scratchlab.db.engine import describe
from scratchlab.db.errors import InvalidValueError, RunNotFoundError, SweepNotFoundError
from scratchlab.db.scope import id_in

#: the longest tag: a label, not a note
TAG_MAX = 64
#: the longest note (a paragraph or two; the app shows it whole)
NOTE_MAX = 10_000


def check_tag(tag: str) -> str:
    """``tag`` as stored (surrounding spaces dropped), or a one-line :class:`InvalidValueError`.

    A tag is 1 to ``TAG_MAX`` characters with no comma (``--where tag=a,b``
    means either tag) and no control or line-break character.
    """
    text = str(tag).strip()
    if not text:
        raise InvalidValueError("a tag cannot be empty")
    if len(text) > TAG_MAX:
        raise InvalidValueError(
            f"tag {text[:20]!r}... is {len(text)} characters; at most {TAG_MAX}"
        )
    if "," in text:
        raise InvalidValueError(
            f"tag {text!r} has a comma; a comma separates tags in --where tag=a,b"
        )
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in text):
        raise InvalidValueError(f"tag {text!r} has a control or line-break character")
    return text


def _tags(tags: Iterable[str]) -> list[str]:
    checked = list(dict.fromkeys(check_tag(t) for t in tags))
    if not checked:
        raise InvalidValueError("no tag given")
    return checked


def _existing(conn, column, ids: list[int]) -> set[int]:
    return set(conn.execute(select(column).where(id_in(column, ids))).scalars())


def _require(conn, store, owner: str, ids: list[int]) -> None:
    """Raise the not-found error naming every id of ``owner`` (run or sweep) that does not exist."""
    table, key = (m.runs, "run_id") if owner == "run" else (m.sweeps, "sweep_id")
    missing = sorted(set(ids) - _existing(conn, table.c[key], ids))
    if missing:
        error = RunNotFoundError if owner == "run" else SweepNotFoundError
        raise error(f"no {owner} {', '.join(map(str, missing))} in {describe(store.engine.url)}")


def _table(owner: str):
    if owner not in ("run", "sweep"):
        raise ValueError(f"tags belong to a run or a sweep, not a {owner!r}")
    return (m.run_tags, "run_id") if owner == "run" else (m.sweep_tags, "sweep_id")


def add_tags(store, owner: str, ids: Iterable[int], tags: Iterable[str]) -> int:
    """Tag runs (``owner="run"``) or sweeps (``"sweep"``) ``ids`` with ``tags``; return how
    many (id, tag) pairs are new. A tag an id already has is kept once."""
    ids, tags = list(dict.fromkeys(int(i) for i in ids)), _tags(tags)
    table, key = _table(owner)
    with store._write() as conn:
        _require(conn, store, owner, ids)
        have = set(
            conn.execute(
                select(table.c[key], table.c.tag).where(
                    id_in(table.c[key], ids), table.c.tag.in_(tags)
                )
            ).all()
        )
        rows = [{key: i, "tag": t} for i in ids for t in tags if (i, t) not in have]
        if rows:
            conn.execute(table.insert(), rows)
    return len(rows)


def remove_tags(store, owner: str, ids: Iterable[int], tags: Iterable[str]) -> int:
    """Take ``tags`` off runs or sweeps ``ids``; return how many (id, tag) pairs went."""
    ids, tags = list(dict.fromkeys(int(i) for i in ids)), _tags(tags)
    table, key = _table(owner)
    with store._write() as conn:
        _require(conn, store, owner, ids)
        return conn.execute(
            delete(table).where(id_in(table.c[key], ids), table.c.tag.in_(tags))
        ).rowcount


def set_note(store, run_id: int, text: str | None) -> None:
    """Set run ``run_id``'s note (None or blank text clears it)."""
    note = (text or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidValueError(f"the note is {len(note)} characters; at most {NOTE_MAX}")
    with store._write() as conn:
        done = conn.execute(
            update(m.runs).where(m.runs.c.run_id == int(run_id)).values(note=note)
        ).rowcount
        if done == 0:
            raise RunNotFoundError(f"no run {run_id} in {describe(store.engine.url)}")


# -- reads ---------------------------------------------------------------------


def run_tags(store, run_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each run's tags, its own and its sweep's, sorted; runs without one are left out."""
    ids = list(dict.fromkeys(int(i) for i in run_ids))
    if not ids:
        return {}
    r, rt, st = m.runs.c, m.run_tags.c, m.sweep_tags.c
    own = select(rt.run_id, rt.tag).where(id_in(rt.run_id, ids))
    inherited = select(r.run_id, st.tag).join_from(m.runs, m.sweep_tags, st.sweep_id == r.sweep_id)
    stmt = union(own, inherited.where(id_in(r.run_id, ids)))
    out: dict[int, list[str]] = {}
    with store.read() as conn:
        for run_id, tag in conn.execute(stmt):
            out.setdefault(run_id, []).append(tag)
    return {run_id: sorted(tags) for run_id, tags in sorted(out.items())}


def sweep_tags(store, sweep_ids: Iterable[int] | None = None) -> dict[int, list[str]]:
    """Each sweep's own tags, sorted (every sweep with one when ``sweep_ids`` is None)."""
    st = m.sweep_tags.c
    stmt = select(st.sweep_id, st.tag).order_by(st.sweep_id, st.tag)
    if sweep_ids is not None:
        stmt = stmt.where(id_in(st.sweep_id, [int(i) for i in sweep_ids]))
    out: dict[int, list[str]] = {}
    with store.read() as conn:
        for sweep_id, tag in conn.execute(stmt):
            out.setdefault(sweep_id, []).append(tag)
    return out


def tag_names(store) -> list[str]:
    """Every tag in the database (on a run or a sweep), sorted: the app's tag filter offers these."""
    stmt = union(select(m.run_tags.c.tag), select(m.sweep_tags.c.tag))
    with store.read() as conn:
        return sorted(conn.execute(stmt).scalars())


def note_of(store, run_id: int) -> str | None:
    """Run ``run_id``'s note (None without one); :class:`RunNotFoundError` for an unknown id."""
    with store.read() as conn:
        row = conn.execute(select(m.runs.c.note).where(m.runs.c.run_id == int(run_id))).first()
    if row is None:
        raise RunNotFoundError(f"no run {run_id} in {describe(store.engine.url)}")
    return row.note


def notes(store, run_ids: Iterable[int]) -> dict[int, str]:
    """The notes of those runs that have one."""
    ids = [int(i) for i in run_ids]
    if not ids:
        return {}
    r = m.runs.c
    with store.read() as conn:
        rows = conn.execute(
            select(r.run_id, r.note).where(id_in(r.run_id, ids), r.note.is_not(None))
        ).all()
    return dict(rows)


__all__ = [
    "NOTE_MAX",
    "TAG_MAX",
    "add_tags",
    "check_tag",
    "note_of",
    "notes",
    "remove_tags",
    "run_tags",
    "set_note",
    "sweep_tags",
    "tag_names",
]
