"""What a component's version covers: the source of the plugin code that made it.

A component's source hash covers the module that defines each of its
callables and, transitively, every module of the same top-level package that
module imports, at the top or inside a function (the built-in experiments
import their model builders lazily). So an edit to a helper module, or to
``scratchlab/plugins/experiments/models.py``, changes the version of every
component that uses it and marks its stored runs stale, while an edit to a
module it does not import changes nothing.

Two kinds of module are not followed:

- the plugin host, :data:`HOST_MODULES` and everything in ``scratchlab``
  outside ``scratchlab.plugins``: the API a plugin registers through, not the
  code that computes its results (otherwise every edit to the platform would
  mark every result stale). A name imported from the host counts as the module
  that defines it, so ``from scratchlab.plugins import gain`` still covers the
  plugin module that holds ``gain``;
- another library's code (torch, numpy, the standard library): a callable
  taken from one (``forward=torch.tanh``) is identified by its qualified name
  and its own source, and that library's version is in the run's environment.

Each file is read and parsed once per process and content; a changed
modification time or size reads it again, so a long-lived process (a notebook,
the app) sees edits.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
from collections.abc import Iterable
from typing import Any

#: modules of the plugin API: a plugin imports them to register, they compute no results
HOST_MODULES = frozenset(
    {
        "scratchlab.plugins",
        "scratchlab.plugins.types",
        "scratchlab.plugins.hookspecs",
        "scratchlab.plugins.registry",
        "scratchlab.plugins.manager",
        "scratchlab.plugins.versions",
        "scratchlab.plugins.categories",
        "scratchlab.plugins.contracts",
    }
)
_PLUGIN_PREFIX = "scratchlab.plugins."
_HOST_PACKAGE = "scratchlab"


def is_host(module: str) -> bool:
    """True for a module of the plugin host, whose edits do not make results stale."""
    if module in HOST_MODULES or module == _HOST_PACKAGE:
        return True
    return module.startswith(f"{_HOST_PACKAGE}.") and not module.startswith(_PLUGIN_PREFIX)


def _top(module: str) -> str:
    return module.partition(".")[0]


# -- files ---------------------------------------------------------------------


def module_file(module: str) -> str | None:
    """The ``.py`` source file of an importable module, or None (a C extension, a namespace)."""
    loaded = sys.modules.get(module)
    path = getattr(loaded, "__file__", None) if loaded is not None else None
    if path is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        path = getattr(spec, "origin", None) if spec is not None else None
    if not path or not path.endswith(".py"):
        return None
    return path


def _stamp(path: str) -> tuple[str, int, int]:
    status = os.stat(path)
    return path, status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=4096)
def _digest(stamp: tuple[str, int, int]) -> str:
    with open(stamp[0], "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes, read once per process while it is unchanged."""
    return _digest(_stamp(path))


#: ``import a.b as c, d`` and ``from .a import (b, c as d)`` at the start of a line,
#: inside a function too; a regular expression is ten times cheaper than parsing
#: the file, and a false hit (an example in a docstring) only widens the hash
IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import[ \t]+(?P<modules>[\w. \t,]+)"
    r"|from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]+))",
    re.MULTILINE,
)


def _first_words(text: str) -> list[str]:
    """``"a as b, c"`` -> ``["a", "c"]``."""
    words = (part.split()[0] for part in text.strip("() \t\n").split(",") if part.split())
    return [w for w in words if w != "*"]


@functools.lru_cache(maxsize=4096)
def _imported_names(
    stamp: tuple[str, int, int], module: str, is_package: bool
) -> tuple[tuple[str, str | None], ...]:
    """``(module, name)`` for each import statement of a file: ``name`` is the
    imported attribute of a ``from`` import (None for a plain ``import``)."""
    with open(stamp[0], encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for match in IMPORT_LINE.finditer(text):
        if match["modules"] is not None:
            found.extend((name, None) for name in _first_words(match["modules"]))
            continue
        base = match["base"]
        if base.startswith("."):
            try:
                base = importlib.util.resolve_name(base, package)
            except (ImportError, ValueError):
                continue
        found.extend((base, name) for name in _first_words(match["names"]))
    return tuple(found)


# -- the import closure --------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _is_module(name: str) -> bool:
    # cached: most names asked are attributes (``from pkg import fn``), and a failed
    # module lookup walks every path entry
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _targets(base: str, name: str | None, top: str) -> Iterable[str]:
    """The modules of package ``top`` that one import statement brings in."""
    if name is None:
        yield base
        return
    if _is_module(f"{base}.{name}"):  # from package import submodule
        yield f"{base}.{name}"
        return
    yield base
    # a name re-exported by a package (the host's, say) counts as its defining module
    defined_in = getattr(getattr(sys.modules.get(base), name, None), "__module__", None)
    if isinstance(defined_in, str) and _top(defined_in) == top:
        yield defined_in


def _closure(module: str) -> dict[str, tuple[str, int, int]]:
    """Module name -> its file's stamp, for ``module`` and every module of its
    top-level package that it imports, transitively, host modules left out."""
    top = _top(module)
    seen: set[str] = set()
    found: dict[str, tuple[str, int, int]] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        path = module_file(current)
        if path is None:
            continue
        try:
            stamp = found[current] = _stamp(path)
        except OSError:  # deleted since it was imported
            continue
        for base, name in _imported_names(stamp, current, os.path.basename(path) == "__init__.py"):
            if _top(base) == top:
                todo.extend(
                    t for t in _targets(base, name, top) if t not in seen and not is_host(t)
                )
    return found


def imported_modules(module: str) -> list[str]:
    """``module`` and every module of its top-level package that it imports,
    transitively (host modules left out), sorted: what its version covers."""
    return sorted(_closure(module))


# -- plugin code or another library --------------------------------------------


def _imports_host(module: str) -> bool:
    path = module_file(module)
    if path is None:
        return False
    names = _imported_names(_stamp(path), module, os.path.basename(path) == "__init__.py")
    return any(_top(base) == _HOST_PACKAGE for base, _ in names)


def _installed_library_path(path: str) -> bool:
    """A file of the standard library or of an installed (not editable) distribution."""
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    stdlib = sysconfig.get_paths().get("stdlib", "")
    return bool(stdlib) and path.startswith(stdlib + os.sep)


def is_plugin_code(module: str) -> bool:
    """True for scratchlab's own modules and a plugin's: a module that imports
    scratchlab, whose top-level package does, or that lives outside the
    standard library and site-packages (a ``--plugin`` file, an editable
    install). Another library's module (torch, numpy, json) is not."""
    top = _top(module)
    if top == _HOST_PACKAGE or _imports_host(module) or _imports_host(top):
        return True
    path = module_file(module)
    return path is not None and not _installed_library_path(path)


# -- a component's hash --------------------------------------------------------


def _callables(component: Any) -> Iterable[tuple[str, Any]]:
    import dataclasses

    for field in dataclasses.fields(component):
        value = getattr(component, field.name)
        if callable(value):
            target = getattr(value, "func", value)  # functools.partial
            yield field.name, getattr(target, "__func__", target)  # bound methods


def _identity(target: Any) -> str:
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def source_hash(component: Any) -> str:
    """The component's source hash (8 hex digits), as described in this module's docstring."""
    digest = hashlib.sha256()
    covered: dict[str, tuple[str, int, int]] = {}
    for field_name, target in _callables(component):
        digest.update(f"{field_name}={_identity(target)}\n".encode())
        module = getattr(target, "__module__", None)
        if not isinstance(module, str):
            continue
        if is_plugin_code(module) and not is_host(module) and module_file(module) is not None:
            covered.update(_closure(module))
            continue
        # another library's function (or code without a file): its own source, where there is one
        with contextlib.suppress(OSError, TypeError):
            digest.update(inspect.getsource(target).encode())
    for module, stamp in sorted(covered.items()):
        digest.update(f"{module}:{_digest(stamp)}\n".encode())
    return digest.hexdigest()[:8]


__all__ = [
    "HOST_MODULES",
    "file_digest",
    "imported_modules",
    "is_host",
    "is_plugin_code",
    "module_file",
    "source_hash",
]
