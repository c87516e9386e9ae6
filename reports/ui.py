"""Streamlit glue shared by the app and its pages: the read-only store, cached
queries, the sidebar filters and widget values kept in the URL query string.

Page scripts only lay out widgets; they get data through :func:`query` and
build tables and charts with :mod:`scratchlab.reports.views`. A database
problem becomes one ``st.error`` line and stops the page, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from scratchlab.core.records import RUN_STATUSES
from scratchlab.core.textsafe import printable
from scratchlab.db import catalog, queries
from scratchlab.db.filters import FilterError, RunFilter, parse_where
from scratchlab.reports import lookups
from scratchlab.reports.filters import component_categories
from scratchlab.reports.source import resolve_db_url
from scratchlab.reports.views.common import escaped, plain

#: seconds a query result is kept at most; results are keyed by the data version
#: (:func:`scratchlab.db.summaries.data_version`), so new rows are never hidden
QUERY_TTL = 600

#: seconds between checks for new results while a sweep is running
LIVE_SECONDS = 3
#: seconds between checks for a new sweep while none is running
IDLE_SECONDS = 5

#: session-state key of the data version this script run reads
VERSION_STATE = "_data_version"

#: session-state key under which app.py hands the sidebar's filter to the page
FILTER_STATE = "_run_filter"


def db_url() -> str:
    """The database this session reads (``-- --db URL``, ``SCRATCHLAB_DB`` or ``./runs.db``)."""
    return resolve_db_url(sys.argv[1:])


@st.cache_resource(show_spinner=False)
def _open(url: str):
    # one read-only store (engine and connection pool) per URL for the whole server
    from scratchlab.db import open_store

    return open_store(url, read_only=True)


def _fail(exc: Exception, url: str) -> None:
    """Show a database problem as one line in the page and stop the script."""
    st.error(plain(exc), icon=":material/error:")
    st.caption(f"database: {plain(url)}")
    st.stop()


def table(frame, **kwargs: Any):
    """``st.dataframe`` of ``frame`` with its stored text shown escaped (:func:`escaped`):
    what every table of stored names, params and reasons goes through."""
    return st.dataframe(escaped(frame), **kwargs)


def page_failed(exc: Exception) -> None:
    """Show a page's unexpected error as one line (the traceback goes to the server's
    log, not to the viewer: it would show server paths)."""
    import logging

    logging.getLogger("scratchlab.reports").exception("report page failed")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    st.error(
        f"This page failed: {plain(type(exc).__name__)}{': ' + plain(first) if first else ''}",
        icon=":material/error:",
    )


def store():
    """The read-only store, opened once per URL; stops the page with a message if it cannot be opened."""
    from scratchlab.db import DatabaseError

    url = db_url()
    try:
        return _open(url)
    except DatabaseError as exc:
        _fail(exc, url)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, max_entries=512)
def _cached(
    url: str, version: tuple, key: str, _function: Callable[..., Any], args: tuple, kwargs: dict
):
    # ``key`` names ``_function`` for the cache; the function itself is not hashed
    # (the leading underscore tells Streamlit to leave it out of the cache key)
    return _function(_open(url), *args, **kwargs)


def _key(function: Callable[..., Any]) -> str:
    """The cache's name of a query function: where it is defined, ``module:qualname``."""
    return f"{function.__module__}:{function.__qualname__}"


def _read_version(url: str) -> tuple:
    from scratchlab.db import summaries

    return summaries.data_version(_open(url))


def data_version(refresh: bool = False) -> tuple:
    """The data version this script run reads (read once per run, or again with
    ``refresh``); a change of it makes every cached query read the database again."""
    from scratchlab.db import DatabaseError

    url = db_url()
    store()
    if refresh or VERSION_STATE not in st.session_state:
        try:
            st.session_state[VERSION_STATE] = _read_version(url)
        except DatabaseError as exc:
            _fail(exc, url)
    return st.session_state[VERSION_STATE]


def query(function: Callable[..., Any], *args: Any, **kwargs: Any):
    """Call ``function(store, *args, **kwargs)``, cached per function, arguments and
    data version: a read query of :mod:`scratchlab.db.queries`, :mod:`scratchlab.db.catalog`
    or :mod:`scratchlab.reports.lookups`, or a store method (``Store.get_sweep``).

    A :class:`~scratchlab.db.DatabaseError` stops the page with its message.
    """
    from scratchlab.db import DatabaseError

    url = db_url()
    version = data_version()
    try:
        return _cached(url, version, _key(function), function, args, kwargs)
    except DatabaseError as exc:
        _fail(exc, url)


def try_query(function: Callable[..., Any], *args: Any, **kwargs: Any):
    """:func:`query`, but a :class:`~scratchlab.db.DatabaseError` (a filter or sort
    naming something no run has) is returned as ``(None, error)`` for the page to
    explain, instead of stopping it; ``(result, None)`` otherwise."""
    from scratchlab.db import DatabaseError

    try:
        return _cached(db_url(), data_version(), _key(function), function, args, kwargs), None
    except DatabaseError as exc:
        return None, exc


def live_refresh() -> None:
    """Check for new results every :data:`LIVE_SECONDS` seconds while a sweep is
    running, and for a new sweep every :data:`IDLE_SECONDS` while none is (a
    fragment that reads the data version), and rerun the page when anything
    changed: a page opened before a sweep starts follows it too. Says so in the
    sidebar while a sweep runs. Called by app.py once per script run, which also
    reads the version afresh."""
    from scratchlab.db.summaries import running_sweeps

    version = data_version(refresh=True)
    live = bool(running_sweeps(version))

    @st.fragment(run_every=LIVE_SECONDS if live else IDLE_SECONDS)
    def watch() -> None:
        if _read_version(db_url()) != st.session_state.get(VERSION_STATE):
            st.rerun(scope="app")

    with st.sidebar:
        if live:
            st.caption(
                f":material/sync: live: a sweep is running; new results show within {LIVE_SECONDS} s"
            )
        watch()


#: session-state key of what :func:`publish` last wrote to the query string, per key
PUBLISHED_STATE = "_published"


def remembered(key: str, default: Any = None, parse: Callable[[str], Any] | None = None) -> bool:
    """Seed the widget state ``key`` from the URL's query string the first time a
    session renders it (so a shared link opens the same view), else from ``default``;
    seed it again when the link names a value other than the one this session last
    wrote there (Back, Forward or an in-app link changed the URL, not a widget).
    True when it seeded the value.

    A value ``parse`` rejects (``ValueError``, ``TypeError``, ``OverflowError``) is
    said in one line in the page and replaced by ``default``: a hand-edited link
    never shows a traceback."""
    raw = st.query_params.get(key) or None
    published = st.session_state.setdefault(PUBLISHED_STATE, {})
    # a link without the key (a sidebar page switch drops other keys) keeps the choice
    moved = raw is not None and key in published and raw != published[key]
    if key in st.session_state and not moved:
        return False
    published[key] = raw
    if raw is None:
        st.session_state[key] = default
        return True
    try:
        st.session_state[key] = parse(raw) if parse else raw
    except (TypeError, ValueError, OverflowError) as exc:
        st.session_state[key] = default
        bad_link(key, raw, exc)
    return True


def bad_link(key: str, raw: str, reason: Any) -> None:
    """Say in one line that the link's ``key=raw`` was ignored, and why."""
    st.warning(
        f"Ignored {plain(key)}={plain(raw)} in the link: {plain(reason)}",
        icon=":material/link_off:",
    )


def publish(key: str, value: Any, default: Any = None) -> None:
    """Write a widget's value to the URL's query string (removed when empty or the default,
    so links stay short), and remember what was written (:func:`remembered`)."""
    if value is None or value == "" or value == [] or value is False or value == default:
        st.query_params.pop(key, None)
        text = None
    elif isinstance(value, list | tuple):
        text = st.query_params[key] = ",".join(str(v) for v in value)
    else:
        text = st.query_params[key] = str(value)
    st.session_state.setdefault(PUBLISHED_STATE, {})[key] = text


def _valid(key: str, options: Sequence[Any]) -> None:
    """Drop values a multiselect cannot show (a stale link, a sweep that is gone)."""
    allowed = set(options)
    st.session_state[key] = [v for v in (st.session_state.get(key) or []) if v in allowed]


#: the largest id a database integer holds (SQLite and PostgreSQL BIGINT)
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int:
    """``"3"`` -> ``3``; ValueError (one line) for anything but an id from 1 to :data:`MAX_ID`."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{str(text).strip()!r} is not an id") from None
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{value} is out of range for an id")
    return value


def parse_ints(text: str) -> list[int]:
    """``"3,1"`` -> ``[3, 1]`` (a query-string list of ids); ValueError for a bad one."""
    return [parse_id(part) for part in text.split(",") if part.strip()]


def _texts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def sweep_label(sweeps) -> Callable[[int], str]:
    """Format function showing a sweep id as ``#3 matmul-cpu``."""
    names = dict(zip(sweeps["sweep_id"].astype(int), sweeps["name"].astype(str)))
    return lambda sweep_id: printable(f"#{sweep_id} {names.get(sweep_id, '')}".strip())


def _multiselect_filter(
    label: str, options: Sequence[Any], parse: Callable[[str], list], **kwargs: Any
) -> list:
    """One sidebar multiselect kept in the URL under ``label``: seeded from the link,
    stale values dropped, the choice written back."""
    remembered(label, [], parse)
    _valid(label, options)
    kwargs.setdefault("format_func", printable)  # the stored value is kept, shown escaped
    chosen = st.sidebar.multiselect(label, list(options), key=label, placeholder="all", **kwargs)
    publish(label, chosen)
    return chosen


def sidebar_filters() -> RunFilter:
    """Draw the sidebar filters (sweep, experiment, status, one per component
    category present, and a ``where`` box for any param), keep them in the URL,
    and return them as a :class:`RunFilter`."""
    sweeps = query(queries.list_sweeps)
    st.sidebar.header("Filters")
    chosen_sweeps = _multiselect_filter(
        "sweep",
        [int(s) for s in sweeps["sweep_id"].sort_values(ascending=False)],
        parse_ints,
        format_func=sweep_label(sweeps),
        help="Sweeps to show. Empty: every sweep; the chart pages then show the newest that has their data.",
    )
    scope = chosen_sweeps or None
    experiments = _multiselect_filter(
        "experiment", query(catalog.experiment_names, sweep_ids=scope), _texts
    )
    statuses = _multiselect_filter("status", RUN_STATUSES, _texts)
    params = _component_filters(scope)
    tags = query(lookups.tag_names)
    chosen_tags = _multiselect_filter("tag", tags, _texts) if tags else []
    chosen = RunFilter(
        sweep_ids=tuple(chosen_sweeps),
        experiments=tuple(experiments),
        statuses=tuple(statuses),
        params=params,
        tags=chosen_tags,
    )
    return _where_filter(chosen)


def _component_filters(scope: list[int] | None) -> dict[str, Any]:
    """One multiselect per component category the runs of sweeps ``scope`` chose from
    (all sweeps: None); the chosen components by category (one name, or a list)."""
    values = query(catalog.param_values, sweep_ids=scope)
    params: dict[str, Any] = {}
    for category in component_categories(values):
        options = sorted(values.loc[values["name"] == category, "value"].astype(str).unique())
        if not options:  # no run in scope chose a component of this category
            publish(category, None)
            continue
        chosen = _multiselect_filter(category, options, _texts)
        if chosen:
            params[category] = chosen[0] if len(chosen) == 1 else chosen
    return params


def _where_filter(chosen: RunFilter) -> RunFilter:
    """Draw the ``where`` box (kept in the URL) and return ``chosen`` narrowed by its
    conditions; a condition that does not parse, or names what no run has, is said
    beside the box and ``chosen`` comes back as it was."""
    remembered("where", "")
    where = st.sidebar.text_input(
        "where",
        key="where",
        placeholder="lr>=0.1; bs=64",
        help="Conditions on any param, component, final metric or tag, separated by ';': name=a,b, name!=x, name<x, name>=x, tag=T, ...",
    )
    publish("where", where)
    try:
        narrowed = parse_where(where.split(";"), chosen)
    except FilterError as exc:
        st.sidebar.error(plain(exc))
        return chosen
    # a name no run has (a typo) is said here, beside the box, with the closest name;
    # the pages go on without the where rather than each stopping on it
    _, error = try_query(queries.count_runs, **narrowed.query_kwargs())
    if error is not None:
        st.sidebar.error(f"where ignored: {plain(error)}")
        return chosen
    return narrowed


def run_filter() -> RunFilter:
    """The sidebar's filter of this script run (set by app.py before the page runs)."""
    return st.session_state.get(FILTER_STATE) or RunFilter()


#: what each kind of data is called in a caption
KIND_WORDS = {
    "timings": "timings",
    "stats": "activation statistics",
    "curves": "training curves",
    "histograms": "activation histograms",
}


def data_filter(run_filter: RunFilter, kind: str) -> RunFilter | None:
    """``run_filter`` narrowed to where data of ``kind`` is (see
    :func:`scratchlab.reports.lookups.data_scope`): without chosen sweeps, the
    newest sweep that has some, said in a caption; without chosen experiments,
    those that record it. None when there is none."""
    sweep_ids, experiments = query(
        lookups.data_scope,
        kind,
        sweep_ids=list(run_filter.sweep_ids) or None,
        experiments=list(run_filter.experiments) or None,
    )
    if not sweep_ids:
        return None
    if not run_filter.sweep_ids:
        st.caption(
            f"Showing sweep #{sweep_ids[0]}, the newest with {KIND_WORDS[kind]}; choose sweeps in the sidebar."
        )
    return replace(run_filter, sweep_ids=tuple(sweep_ids), experiments=tuple(experiments))


def page_scope(title: str, kind: str, missing: str) -> RunFilter:
    """Draw a data page's title and return the sidebar's filter narrowed to where
    data of ``kind`` is (:func:`data_filter`); when there is none, say ``missing``
    (where such data comes from) and stop the page."""
    st.title(title)
    scope = data_filter(run_filter(), kind)
    if scope is None:
        st.info(missing)
        st.stop()
    return scope


def first_runs(run_filter: RunFilter, max_runs: int, what: str):
    """The first ``max_runs`` runs that ``run_filter`` matches, with a caption
    saying how many more there are (pages that load per-run series cap the
    runs, so one view never pulls every point of a large sweep)."""
    kwargs = run_filter.query_kwargs()
    total = int(query(queries.count_runs, **kwargs))
    runs = query(queries.list_runs, **kwargs, limit=max_runs)
    if total > max_runs:
        st.caption(
            f"{what} of the first {max_runs} of {total} runs; narrow the filters to see others."
        )
    return runs


def page_widget(
    key: str,
    widget: Callable[..., Any],
    *args: Any,
    default: Any = None,
    parse: Callable[[str], Any] | None = None,
    options: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Draw a page's widget whose value is kept in the URL under ``key`` (use
    ``<page>.<name>`` keys: app.py drops other pages' keys). ``options``, when
    given, validates a remembered value (a single value or a list)."""
    fresh = remembered(key, default, parse)
    if options is not None:
        value = st.session_state.get(key)
        if isinstance(value, list):
            _valid(key, options)
        elif value not in options:
            st.session_state[key] = (
                default if default in options else (options[0] if options else None)
            )
            if fresh and key in st.query_params:
                bad_link(key, st.query_params[key], "not one of the choices here")
    value = widget(*args, key=key, **kwargs)
    publish(key, value, default)
    return value


def drop_other_pages(page: str) -> None:
    """Remove the query-string keys of pages other than ``page`` (``<page>.<name>``),
    so a shared link carries only what the open page uses."""
    for key in list(st.query_params.keys()):
        owner, dot, _ = key.partition(".")
        if dot and owner != page:
            del st.query_params[key]
