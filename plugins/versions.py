"""What a component's version covers: the code it runs, one definition at a time.

A component's source hash covers the top-level definitions its callables
run: the function (or class) itself and, transitively, every function,
class and module-level value of the same top-level package that one reads,
whether imported at the top of a module or inside a function (the built-in
experiments import their model builders lazily), and what a callable carries
with it (a closure's cells, a ``functools.partial``'s arguments: an optimizer
built by ``recipe([adam_step])`` covers ``adam_step``). Its plain fields
(``max_madds``, ``params``, ``n_outputs``...) count too, its description not.

So editing ``matmul_einsum`` in ``plugins/matmul.py`` changes the version of
the ``einsum`` strategy only; editing ``autograd_matmul``, which the training
loop runs, changes the ``train`` experiment's too; and a comment, a docstring,
a reformat or a new function nobody calls changes nothing. Definitions are
compared on their syntax tree (:mod:`scratchlab.plugins.codeindex`).

Two kinds of code are not followed:

- the plugin host, :data:`HOST_MODULES` and everything in ``scratchlab``
  outside ``scratchlab.plugins``: the API a plugin registers through, not the
  code that computes its results (otherwise every edit to the platform would
  mark every result stale). A name imported from the host counts as the module
  that defines it, so ``from scratchlab.plugins import gain`` still covers the
  plugin module's ``gain``;
- another library's code (torch, numpy, the standard library): a callable
  taken from one (``forward=torch.tanh``) is identified by its qualified name
  and its own source, and that library's version is in the run's environment.

Each file is read and parsed once per process and content; a changed
modification time or size reads it again, so a long-lived process (a notebook,
the app) sees edits.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from scratchlab.plugins.codeindex import Binding, CodeIndex, code_index

#: modules of the plugin API: a plugin imports them to register, they compute no results
HOST_MODULES = frozenset(
    {
        "scratchlab.plugins",
        "scratchlab.plugins.types",
        "scratchlab.plugins.hookspecs",
        "scratchlab.plugins.registry",
        "scratchlab.plugins.manager",
        "scratchlab.plugins.versions",
        "scratchlab.plugins.codeindex",
        "scratchlab.plugins.training_types",
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


#: a line that imports scratchlab, at the top or inside a function; a regular
#: expression is ten times cheaper than parsing another library's file
IMPORTS_HOST = re.compile(rf"^[ \t]*(?:from|import)[ \t]+{_HOST_PACKAGE}\b", re.MULTILINE)


@functools.lru_cache(maxsize=4096)
def _mentions_host(stamp: tuple[str, int, int]) -> bool:
    with open(stamp[0], encoding="utf-8", errors="replace") as handle:
        return IMPORTS_HOST.search(handle.read()) is not None


# -- the definitions a callable reaches ----------------------------------------

#: (module, top-level name): one definition
Unit = tuple[str, str]


@functools.lru_cache(maxsize=4096)
def _is_module(name: str) -> bool:
    # cached: most names asked are attributes (``from pkg import fn``), and a failed
    # module lookup walks every path entry
    if name in sys.modules:
        return True
    parent = name.rpartition(".")[0]
    try:
        # find_spec imports the parent: a plain module (one that imports torch, say) has no
        # submodules, and asking must not run it
        if parent and not _is_package(parent):
            return False
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.lru_cache(maxsize=1024)
def _is_package(name: str) -> bool:
    """Whether ``name`` is a package (found without running it: only its parents are imported)."""
    module = sys.modules.get(name)
    if module is not None:
        return hasattr(module, "__path__")
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def _index(module: str) -> CodeIndex | None:
    path = module_file(module)
    if path is None:
        return None
    try:
        stamp = _stamp(path)
    except OSError:  # deleted since it was imported
        return None
    return code_index(stamp, module, os.path.basename(path) == "__init__.py")


def _followed(module: str, top: str) -> bool:
    return _top(module) == top and not is_host(module)


def _attribute(module: str, name: str, top: str) -> list[Unit]:
    """The definition ``module.name`` stands for, if it is code of package ``top``."""
    if is_host(module):
        # a name re-exported by the host counts as the module that defines it
        defined = getattr(getattr(sys.modules.get(module), name, None), "__module__", None)
        return [(defined, name)] if isinstance(defined, str) and _followed(defined, top) else []
    return [(module, name)] if _followed(module, top) else []


def _resolve(chain: tuple[str, ...], bindings: dict[str, Binding], index: CodeIndex, module: str):
    """The definitions a dotted name read in ``module`` may stand for."""
    top, (head, *rest) = _top(module), chain
    found: list[Unit] = [(module, head)] if head in index.digests else []
    if head not in bindings:
        return found
    base, attribute = bindings[head]
    if _top(base) != top:  # another library: not followed, and not asked about
        return found
    if attribute is not None:
        if not _is_module(f"{base}.{attribute}"):
            return found + _attribute(base, attribute, top)
        base = f"{base}.{attribute}"
    for part in rest:
        if not _is_module(f"{base}.{part}"):
            return found + _attribute(base, part, top)
        base = f"{base}.{part}"
    return found  # a module itself is not a definition


def _reach(starts: Iterable[Unit]) -> dict[Unit, str]:
    """Each definition reachable from ``starts`` -> the digest of its code."""
    found: dict[Unit, str] = {}
    seen: set[Unit] = set()
    todo = list(starts)
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        module, name = unit
        index = _index(module)
        if index is None:
            continue
        if name in index.digests:
            found[unit] = index.digests[name]
            bindings = {**index.imports, **index.local_imports[name]}
            for chain in index.reads[name]:
                todo.extend(_resolve(chain, bindings, index, module))
        elif name in index.imports:  # re-exported from another module of the package
            todo.extend(_resolve((name,), index.imports, index, module))
    return found


# -- plugin code or another library --------------------------------------------


def _imports_host(module: str) -> bool:
    path = module_file(module)
    if path is None:
        return False
    try:
        return _mentions_host(_stamp(path))
    except OSError:
        return False


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

#: fields that describe a component rather than decide what it computes
_DESCRIPTIVE = frozenset({"name", "description"})
#: how deep a closure's or a partial's contents are followed
_DEPTH = 4


def _identity(target: Any) -> str:
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def _plain(value: Any) -> str:
    """A text for a value that is the same in every process (no object addresses)."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(_plain(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{_plain(k)}:{_plain(v)}" for k, v in value.items())) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = (f"{f.name}={_plain(getattr(value, f.name))}" for f in dataclasses.fields(value))
        return f"{_identity(type(value))}({','.join(fields)})"
    return _identity(value)


class _Trace:
    """The definitions and data one component's callables are made of."""

    def __init__(self) -> None:
        self.starts: list[Unit] = []
        self.data: list[str] = []
        self._seen: set[int] = set()

    def value(self, value: Any, depth: int = 0) -> None:
        """Follow a callable to its code, a container to its items; note plain data."""
        if depth > _DEPTH or id(value) in self._seen:
            return
        self._seen.add(id(value))
        if isinstance(value, functools.partial):
            self.value(value.func, depth + 1)
            self.value((value.args, value.keywords), depth + 1)
        elif inspect.ismethod(value):
            self.value(value.__func__, depth)
        elif isinstance(value, tuple | list | set | frozenset):
            for item in value:
                self.value(item, depth + 1)
        elif isinstance(value, dict):
            self.data.append(_plain(sorted(map(repr, value))))
            for item in value.values():
                self.value(item, depth + 1)
        elif inspect.isfunction(value) or isinstance(value, type):
            self.code(value, depth)
        elif callable(value):  # an instance with __call__: its class's code
            self.code(type(value), depth)
        else:
            self.data.append(_plain(value))

    def code(self, target: Any, depth: int) -> None:
        """A function or class: its definition if it is plugin code, else its name and source."""
        self.data.append(_identity(target))
        module = getattr(target, "__module__", None)
        if not isinstance(module, str):
            return
        if not (is_plugin_code(module) and not is_host(module)):
            with contextlib.suppress(OSError, TypeError):
                self.data.append(inspect.getsource(target))
            return
        self.starts.extend(_definitions(module, target))
        # a function made by another (``recipe([adam_step])``, a schedule's lambda)
        # runs what its cells and defaults hold, which its own code does not name
        for cell in getattr(target, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                self.value(cell.cell_contents, depth + 1)
        self.value(getattr(target, "__defaults__", None) or (), depth + 1)


def _definitions(module: str, target: Any) -> list[Unit]:
    """The top-level definitions of ``module`` that hold ``target``'s code."""
    index = _index(module)
    if index is None:
        return []
    head = target.__qualname__.split(".")[0]
    if head in index.digests:
        return [(module, head)]
    # a lambda or a function bound under another name: the statement at its line
    line = getattr(getattr(target, "__code__", None), "co_firstlineno", 0)
    return [(module, name) for name in index.at_line(line)]


def _trace(component: Any) -> _Trace:
    trace = _Trace()
    for field in dataclasses.fields(component):
        if field.name in _DESCRIPTIVE:
            continue
        value = getattr(component, field.name)
        if callable(value):
            trace.data.append(f"{field.name}=")
            trace.value(value)
        else:
            trace.data.append(f"{field.name}={_plain(value)}")
    return trace


def covered(component: Any) -> list[str]:
    """``module.name`` of every definition the component's version covers, sorted."""
    return sorted(f"{module}.{name}" for module, name in _reach(_trace(component).starts))


def source_hash(component: Any) -> str:
    """The component's source hash (8 hex digits), as described in this module's docstring."""
    trace = _trace(component)
    digest = hashlib.sha256()
    for line in trace.data:
        digest.update(f"{line}\n".encode())
    for (module, name), code in sorted(_reach(trace.starts).items()):
        digest.update(f"{module}.{name}:{code}\n".encode())
    return digest.hexdigest()[:8]


__all__ = [
    "HOST_MODULES",
    "covered",
    "file_digest",
    "is_host",
    "is_plugin_code",
    "module_file",
    "source_hash",
]
