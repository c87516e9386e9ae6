"""What each top-level definition of a Python file is, and which names it reads.

:mod:`scratchlab.plugins.versions` hashes the code a component runs, one
definition at a time rather than whole files, so that an edit to one
strategy of ``plugins/matmul.py`` does not mark the runs of the other four
stale, and a comment or a docstring marks nothing. This module gives it, for
one file:

- ``digests``: top-level name -> a hash of the statements that define it
  (``def``, ``class``, an assignment, or the whole ``if``/``try`` block a name
  is bound in), taken over the syntax tree without line numbers, comments or
  docstrings, so only an edit to code that runs changes it;
- ``reads``: top-level name -> the dotted names its statements read
  (``helper``, ``models.mlp``), and the imports made inside them;
- ``imports``: the module's own imports, alias -> ``(module, attribute)``.

A file is parsed once per process and content (path, modification time, size).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from dataclasses import dataclass

#: an import binding: alias -> (module, attribute), attribute None for ``import a.b``
Binding = tuple[str, str | None]


@dataclass(frozen=True)
class CodeIndex:
    """One file's top-level definitions, what they read, and its imports."""

    digests: dict[str, str]
    reads: dict[str, frozenset[tuple[str, ...]]]
    local_imports: dict[str, dict[str, Binding]]
    imports: dict[str, Binding]
    #: (first line, last line, names) of each defining statement, for code without a name
    spans: tuple[tuple[int, int, tuple[str, ...]], ...]

    def at_line(self, line: int) -> tuple[str, ...]:
        """The names defined by the top-level statement that spans ``line``."""
        return next((names for low, high, names in self.spans if low <= line <= high), ())


def _bindings(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, Binding]:
    if isinstance(node, ast.Import):
        # ``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to ``a.b``
        return {
            (alias.asname or alias.name.partition(".")[0]): (
                alias.name if alias.asname else alias.name.partition(".")[0],
                None,
            )
            for alias in node.names
        }
    base = "." * node.level + (node.module or "")
    if node.level:
        try:
            base = importlib.util.resolve_name(base, package)
        except (ImportError, ValueError):
            return {}
    return {(a.asname or a.name): (base, a.name) for a in node.names if a.name != "*"}


def _bound_names(statement: ast.stmt) -> list[str]:
    """Names a top-level statement binds (not those bound inside its functions)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    names: list[str] = []
    todo: list[ast.AST] = [statement]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _dotted(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return (node.id, *reversed(parts))


def _strip_docstring(node: ast.AST) -> None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        body = node.body
        first = body[0].value if isinstance(body[0], ast.Expr) else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            node.body = body[1:] or [ast.Pass()]


def _scan(
    statement: ast.stmt, package: str
) -> tuple[str, set[tuple[str, ...]], dict[str, Binding]]:
    """One pass over a top-level statement: its code without docstrings (dumped
    without line numbers), every dotted name it reads (``a.b.c`` gives ``a``,
    ``a.b`` and ``a.b.c``) and the imports made inside it."""
    reads: set[tuple[str, ...]] = set()
    imports: dict[str, Binding] = {}
    for node in ast.walk(statement):
        if isinstance(node, ast.Attribute | ast.Name):
            chain = _dotted(node)
            if chain is not None:
                reads.add(chain)
        elif isinstance(node, ast.Import | ast.ImportFrom) and node is not statement:
            imports.update(_bindings(node, package))
        else:
            # children are queued before a node is yielded, so dropping one is safe
            _strip_docstring(node)
    return ast.dump(statement), reads, imports


@functools.lru_cache(maxsize=1024)
def code_index(stamp: tuple[str, int, int], module: str, is_package: bool) -> CodeIndex:
    """Index the file of ``stamp`` (path, mtime, size), the source of ``module``."""
    with open(stamp[0], encoding="utf-8", errors="replace") as handle:
        tree = ast.parse(handle.read())
    package = module if is_package else module.rpartition(".")[0]
    imports: dict[str, Binding] = {}
    code: dict[str, list[str]] = {}
    reads: dict[str, set[tuple[str, ...]]] = {}
    local_imports: dict[str, dict[str, Binding]] = {}
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            imports.update(_bindings(statement, package))
            continue
        names = _bound_names(statement)
        dump, statement_reads, statement_imports = _scan(statement, package)
        if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # imports inside a top-level ``try``/``if`` bind module names
            imports.update(statement_imports)
        spans.append((statement.lineno, statement.end_lineno or statement.lineno, tuple(names)))
        for name in names:
            code.setdefault(name, []).append(dump)
            reads.setdefault(name, set()).update(statement_reads)
            local_imports.setdefault(name, {}).update(statement_imports)
    return CodeIndex(
        digests={n: hashlib.sha256("\n".join(d).encode()).hexdigest() for n, d in code.items()},
        reads={name: frozenset(found) for name, found in reads.items()},
        local_imports=local_imports,
        imports=imports,
        spans=tuple(spans),
    )


__all__ = ["Binding", "CodeIndex", "code_index"]
