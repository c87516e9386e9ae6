"""Plugin discovery: built-ins, installed distributions and ``--plugin`` modules.

Every plugin is loaded on its own. One that fails to import or to register is
rolled back, recorded as failed (with its error) and skipped, so the rest of
the tool keeps working; ``SCRATCHLAB_STRICT_PLUGINS=1`` turns that into an
error. ``SCRATCHLAB_DISABLE_PLUGINS=name,...`` blocks plugins by entry-point,
distribution or module name. Authoring mistakes that do not stop a plugin (a
hook name no hookspec has, a component name another plugin already took) are
kept as one-line warnings on its :class:`PluginInfo`.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pluggy

from scratchlab.plugins import hookspecs
from scratchlab.plugins.categories import Category, CategoryError
from scratchlab.plugins.registry import Registered, RegistrationError, Registry

ENTRY_POINT_GROUP = "scratchlab"
STRICT_ENV = "SCRATCHLAB_STRICT_PLUGINS"
DISABLE_ENV = "SCRATCHLAB_DISABLE_PLUGINS"

#: Built-in plugins, registered through the same path as third-party ones.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "scratchlab.plugins.matmul",
    "scratchlab.plugins.inits",
    "scratchlab.plugins.activations",
    "scratchlab.plugins.losses",
    "scratchlab.plugins.datasets",
    "scratchlab.plugins.optimizers",
    "scratchlab.plugins.schedules",
    "scratchlab.plugins.norms",
    "scratchlab.plugins.experiments",
)


class PluginError(Exception):
    """A plugin failed to load while strict mode is on."""


@dataclass
class PluginInfo:
    """One plugin as ``runner plugins`` shows it."""

    name: str
    source: str  # "builtin", "entrypoint", "module" or "object"
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"  # "ok", "failed" or "disabled"
    error: str | None = None
    components: list[str] = field(default_factory=list)
    #: categories this plugin added (``register_categories``)
    categories: list[str] = field(default_factory=list)
    #: authoring mistakes that did not stop the plugin (a mistyped hook, a dropped duplicate)
    warnings: list[str] = field(default_factory=list)

    def names(self) -> set[str]:
        """Every name the plugin can be blocked by: entry-point, distribution and module name."""
        return {
            n
            for n in (self.name, self.distribution, self.module, self.module.partition(":")[0])
            if n
        }


@dataclass
class Plugins:
    """The loaded plugin set: the pluggy manager, the registry and what happened."""

    pm: pluggy.PluginManager
    registry: Registry
    infos: list[PluginInfo]

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that failed to import or register."""
        return [i for i in self.infos if i.status == "failed"]

    @property
    def warnings(self) -> list[str]:
        """Every authoring warning of every plugin, one line each."""
        return [w for i in self.infos for w in i.warnings]

    @property
    def hook(self) -> Any:
        """Shortcut to ``pm.hook`` for the observer hooks."""
        return self.pm.hook

    def plugin_of(self, category: str, name: str) -> str:
        """The plugin that registered component ``name`` of ``category``."""
        return self.registry.get(category, name).plugin


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _scratchlab_version() -> str | None:
    try:
        return importlib.metadata.version("scratchlab")
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    text = (
        f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, RegistrationError | CategoryError)
        else str(exc)
    )
    return " ".join(text.split())  # one line, whatever the plugin's message held


def _spec(hook_name: str, category: Category) -> Any:
    """A hookspec namespace for a plugin category's registration hook."""

    def register_components_of(register: Any) -> None:
        """Register components of a plugin-defined category."""

    register_components_of.__name__ = hook_name
    register_components_of.__doc__ = f"Register {category.name} components: {category.description}"
    return SimpleNamespace(**{hook_name: hookspecs.hookspec(register_components_of)})


class _Loader:
    """Loads plugins into a fresh manager and registry in two passes: import every
    plugin and collect its categories, then collect every plugin's components
    (so a category's hook exists whichever plugin loads first)."""

    def __init__(self, strict: bool, disabled: set[str]) -> None:
        self.pm = pluggy.PluginManager("scratchlab")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []
        self.loaded: list[tuple[PluginInfo, Any]] = []
        self.strict = strict
        self.disabled = disabled

    def _fail(
        self, info: PluginInfo, stage: str, exc: BaseException, added: list[Registered]
    ) -> None:
        info.status = "failed"
        info.error = f"{stage}: {_describe(exc)}"
        self.registry.remove(added, failure=info.error)
        self.registry.failures[info.name] = info.error
        if self.strict:
            raise PluginError(f'Error {stage} plugin "{info.name}": {_describe(exc)}') from exc

    def add(self, info: PluginInfo, load: Any) -> None:
        """Import (``load()``) one plugin and add its categories, recording the outcome in ``info``."""
        self.infos.append(info)
        if info.names() & self.disabled:
            info.status = "disabled"
            return
        stage = "importing"
        try:
            obj = load()
            stage = "registering"
            if self.pm.is_registered(obj) or self.pm.has_plugin(info.name):
                raise RegistrationError(f"plugin {info.name!r} is already loaded")
            self.pm.register(obj, name=info.name)
        except Exception as exc:
            self._fail(info, stage, exc, [])
            return
        try:
            for impl in self._impls("register_categories", obj):
                impl.function(
                    register=lambda c, i=info: i.categories.append(
                        self.registry.add_category(c, i.name).name
                    )
                )
        except Exception as exc:
            for name in info.categories:
                self.registry.remove_category(name)
            self.pm.unregister(obj)
            self._fail(info, "registering", exc, [])
            return
        self.loaded.append((info, obj))

    def _impls(self, hook_name: str, obj: Any) -> list[Any]:
        caller = getattr(self.pm.hook, hook_name, None)
        return [impl for impl in (caller.get_hookimpls() if caller else []) if impl.plugin is obj]

    def finish(self) -> None:
        """Second pass: a hookspec per plugin category, every plugin's components, then
        a warning for each hook implementation no spec knows."""
        for category in self.registry.categories():
            if not hasattr(hookspecs, category.hook):
                self.pm.add_hookspecs(_spec(category.hook, category))
        for info, obj in self.loaded:
            added: list[Registered] = []
            try:
                self._collect(info, obj, added)
            except Exception as exc:
                self.pm.unregister(obj)
                self._fail(info, "registering", exc, added)
                continue
            info.components = [f"{e.category}:{e.name}" for e in added]
            info.warnings += unknown_hooks(self.pm, info.name, obj)

    def _collect(self, info: PluginInfo, obj: Any, added: list[Registered]) -> None:
        calls = [(c.hook, c.name) for c in self.registry.categories()] + [
            ("register_components", None)
        ]
        for hook_name, category in calls:
            for impl in self._impls(hook_name, obj):
                register = self.registry.registrar(
                    category,
                    info.name,
                    info.distribution,
                    info.version,
                    added,
                    warn=info.warnings.append,
                    builtin=info.source == "builtin",
                )
                try:
                    impl.function(register=register)
                except RegistrationError as exc:
                    raise RegistrationError(f"plugin {info.name!r}: {exc}") from None


def unknown_hooks(pm: pluggy.PluginManager, plugin: str, obj: Any) -> list[str]:
    """One warning per hook implementation of ``obj`` that no hookspec has,
    naming the closest hook (a mistyped ``register_matmul`` would otherwise
    register nothing, silently)."""
    known = sorted(
        name for name in vars(pm.hook) if getattr(getattr(pm.hook, name), "spec", None) is not None
    )
    warnings = []
    for caller in pm.get_hookcallers(obj) or []:
        if caller.spec is not None:
            continue
        close = difflib.get_close_matches(caller.name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; hooks: {', '.join(known)}"
        warnings.append(
            f"plugin {plugin!r}: {caller.name!r} is not a scratchlab hook, so it is never called{hint}"
        )
    return warnings


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(
    modules: Sequence[str] = (),
    *,
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    objects: Mapping[str, Any] | None = None,
) -> Plugins:
    """Build the plugin manager: built-ins, then entry points, then ``modules``, then ``objects``.

    ``modules`` are importable module paths given with ``--plugin``;
    ``objects`` maps a plugin name to a plugin object already in hand (a module,
    a class or an instance with hook implementations; ``scratchlab.testing``). ``strict``
    and ``disabled`` default to the environment variables
    ``SCRATCHLAB_STRICT_PLUGINS`` and ``SCRATCHLAB_DISABLE_PLUGINS``.
    Raises :class:`PluginError` on the first failure in strict mode.
    """
    loader = _Loader(
        strict=_env_flag(STRICT_ENV) if strict is None else strict,
        disabled=_disabled_names() if disabled is None else set(disabled),
    )
    version = _scratchlab_version()
    for modname in builtins:
        loader.add(
            PluginInfo(modname, "builtin", modname, "scratchlab", version),
            lambda m=modname: importlib.import_module(m),
        )
    seen: set[str] = set()
    for ep in _entry_points():
        if ep.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        loader.add(
            PluginInfo(
                ep.name,
                "entrypoint",
                ep.value,
                dist.metadata["Name"] if dist is not None else None,
                dist.version if dist is not None else None,
            ),
            ep.load,
        )
    for modname in modules:
        loader.add(
            PluginInfo(modname, "module", modname),
            lambda m=modname: importlib.import_module(m),
        )
    for name, obj in (objects or {}).items():
        loader.add(
            PluginInfo(name, "object", getattr(obj, "__name__", type(obj).__name__)),
            lambda o=obj: o,
        )
    loader.finish()
    return Plugins(loader.pm, loader.registry, loader.infos)
