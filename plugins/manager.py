"""Plugin discovery: built-ins, installed distributions and ``--plugin`` modules.

Every plugin is loaded on its own. One that fails to import or to register is
rolled back, recorded as failed (with its error) and skipped, so the rest of
the tool keeps working; ``SCRATCHLAB_STRICT_PLUGINS=1`` turns that into an
error. ``SCRATCHLAB_DISABLE_PLUGINS=name,...`` blocks plugins by name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from scratchlab.plugins import hookspecs
from scratchlab.plugins.registry import HOOKS, Registered, RegistrationError, Registry

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
    def hook(self) -> Any:
        """Shortcut to ``pm.hook`` for the observer hooks."""
        return self.pm.hook


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
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, RegistrationError) else str(exc)


class _Loader:
    """Loads plugins one by one into a fresh manager and registry."""

    def __init__(self, strict: bool, disabled: set[str]) -> None:
        self.pm = pluggy.PluginManager("scratchlab")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []
        self.strict = strict
        self.disabled = disabled

    def add(self, info: PluginInfo, load: Any) -> None:
        """Import (``load()``) and register one plugin, recording the outcome in ``info``."""
        self.infos.append(info)
        if info.name in self.disabled:
            info.status = "disabled"
            return
        added: list[Registered] = []
        stage = "importing"
        try:
            obj = load()
            stage = "registering"
            if self.pm.is_registered(obj) or self.pm.has_plugin(info.name):
                raise RegistrationError(f"plugin {info.name!r} is already loaded")
            self.pm.register(obj, name=info.name)
            try:
                self._collect(info, obj, added)
            except BaseException:
                self.pm.unregister(obj)
                raise
        except Exception as exc:
            self.registry.remove(added)
            info.status = "failed"
            info.error = f"{stage}: {_describe(exc)}"
            if self.strict:
                raise PluginError(f'Error {stage} plugin "{info.name}": {_describe(exc)}') from exc
            return
        info.components = [f"{e.category}:{e.name}" for e in added]

    def _collect(self, info: PluginInfo, obj: Any, added: list[Registered]) -> None:
        for category, hook_name in HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not obj:
                    continue
                register = self.registry.registrar(
                    category, info.name, info.distribution, info.version, added
                )
                try:
                    impl.function(register=register)
                except RegistrationError as exc:
                    raise RegistrationError(f"plugin {info.name!r}: {exc}") from None


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
        loader.add(PluginInfo(name, "object", getattr(obj, "__name__", type(obj).__name__)), lambda o=obj: o)
    return Plugins(loader.pm, loader.registry, loader.infos)
