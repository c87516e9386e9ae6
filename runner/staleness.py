"""Which stored runs were made by code that has changed since.

Every run stores, for its experiment and for each component it used, the
version of that code: its distribution's version and a hash of its plugin
module and of the modules of its package that it imports (``0.1.0+3f2a9c1d``,
see :mod:`scratchlab.plugins.versions`).
Comparing those with the versions registered now tells which results an
edit (or an upgrade, or an uninstall) has made stale. Loading the registry
imports the plugins, so this module is only used on request (``--stale``).
"""

from __future__ import annotations

from typing import Any

NOT_INSTALLED = "not installed"


def stale_components(versions: Any, registry: Any) -> Any:
    """The rows of ``versions`` (``queries.component_versions``: run_id, category,
    component, version) whose component is no longer registered or whose stored
    version differs from the registered one, with a ``now`` column holding the
    registered version (or ``"not installed"``). A row stored without a version
    (a run recorded by hand, or the experiment of a run stored before experiments
    had versions) cannot be compared and is left out."""
    versions = versions[versions["version"].notna()]
    current: dict[tuple[str, str], str] = {}
    for category, name in set(zip(versions["category"], versions["component"], strict=True)):
        try:
            current[(category, name)] = registry.get(category, name).version
        except LookupError:
            current[(category, name)] = NOT_INSTALLED
    now = [current[key] for key in zip(versions["category"], versions["component"], strict=True)]
    marked = versions.assign(now=now)
    return marked[marked["version"] != marked["now"]].reset_index(drop=True)


def stale_notes(stale: Any) -> dict[int, str]:
    """``run_id -> "matmul einsum 0.1.0+aaaa -> 0.1.0+bbbb; ..."``, one line per stale run."""
    notes: dict[int, list[str]] = {}
    for row in stale.itertuples(index=False):
        notes.setdefault(int(row.run_id), []).append(
            f"{row.category} {row.component} {row.version} -> {row.now}"
        )
    return {run_id: "; ".join(parts) for run_id, parts in notes.items()}
