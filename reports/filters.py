"""Run filters as the app's sidebar and the terminal views use them.

The filter itself is :class:`scratchlab.db.filters.RunFilter` (import it
and its parser from there): one value, turned into SQL in one place, so the
sidebar, ``runner runs --where`` and the notebook API filter alike. This
module only adds what the UI needs around it: which component categories the
runs in scope used (derived from the database, so a category a plugin adds
gets its own sidebar filter with no edit here). Nothing here imports
Streamlit or torch.
"""

from __future__ import annotations


def component_categories(values) -> list[str]:
    """The component categories in a ``catalog.param_values`` frame, sorted: the
    names whose rows are component choices (kind ``component``)."""
    return sorted(set(values.loc[values["kind"] == "component", "name"]))


def category_columns(frame) -> list[str]:
    """The component-category columns of a ``list_runs`` or ``timings`` frame, in
    order (``matmul``, ``init``, ..., and any category a plugin added): the query
    lists them in ``frame.attrs["categories"]``."""
    return [c for c in frame.attrs.get("categories", []) if c in frame.columns]


def component_columns(frame, base_columns) -> list[str]:
    """The columns of a query's frame after its own ``base_columns``: the component
    categories (``timings``) or params (``list_runs``) joined to each row, in order."""
    base = set(base_columns)
    return [c for c in frame.columns if c not in base]


__all__ = ["category_columns", "component_categories", "component_columns"]
