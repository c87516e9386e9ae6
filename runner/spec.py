"""The sweep spec: :class:`SweepSpec`, everything that decides which runs a sweep has,
stored with the sweep as JSON; its ``[[include]]`` rows; and :class:`PlanError`, the
one-line refusal of a spec that cannot be planned.

What a user types is parsed by :mod:`scratchlab.runner.spec_values` (names, settings,
values, thread counts) and :mod:`scratchlab.runner.spec_config` (``--config`` files);
:mod:`scratchlab.runner.plan` checks the spec against the registered plugins.
Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DTYPES: tuple[str, ...] = ("float32", "float64")

#: the most runs a sweep plans unless ``--max-runs`` says more: a plan past it is almost
#: always a mistake (every category's every component, a huge ``--repeat``)
DEFAULT_MAX_RUNS = 10_000

#: the highest ``--max-runs`` (a plan is a list in memory, about 2 KB a run), and the limit
#: of a stored spec that has none (it was planned whole, before plans had a limit)
MAX_PLAN_RUNS = 10_000_000


class PlanError(ValueError):
    """A sweep spec that cannot be planned; the message is one line saying why
    and listing the valid choices."""


@dataclass(frozen=True)
class Include:
    """One explicit combination from a config file's ``[[include]]`` table.

    ``components`` maps category -> component name (categories left out take
    the sweep's single choice for that category, else the default);
    ``params`` maps an experiment param (``"lr"``) or a component param
    (``"leaky-relu.slope"``) to its value.
    """

    experiment: str
    components: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides which runs a sweep has.

    ``settings`` maps a target (an experiment name, a component name, or
    ``"category:component"`` where a name is ambiguous) to param -> value;
    values are strings from the command line or typed values from TOML, and
    are parsed by the type of the param's default when planning.
    ``experiments=None`` means "every experiment that uses a swept category".
    ``only_keys`` restricts the plan to these run keys (a re-run of failed runs).
    ``plugin_modules`` is not a planning input; it is kept with the stored spec
    so that a resume can tell which ``--plugin`` modules the sweep needs.
    """

    plugins: tuple[str, ...] = ()
    components: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    experiments: tuple[str, ...] | None = None
    devices: tuple[str, ...] = ("cpu",)
    dtype: str = "float32"
    repeat: int = 1
    seed: int = 0
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    includes: tuple[Include, ...] = ()
    data_path: str | None = None
    only_keys: tuple[str, ...] | None = None
    plugin_modules: tuple[str, ...] = ()
    #: torch thread counts to sweep; None is ``auto`` (see PlannedRun.threads)
    threads: tuple[int | None, ...] = (None,)
    #: torch's deterministic algorithms in every run, and ``auto`` threads fixed at 1
    deterministic: bool = False
    #: the most runs the plan may have (counted before any is built: ``--max-runs``)
    max_runs: int = DEFAULT_MAX_RUNS

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored on the sweep; :meth:`from_json` reads it back)."""
        return {
            "plugins": list(self.plugins),
            "components": {c: list(n) for c, n in self.components.items()},
            "experiments": None if self.experiments is None else list(self.experiments),
            "devices": list(self.devices),
            "dtype": self.dtype,
            "repeat": self.repeat,
            "seed": self.seed,
            "settings": {t: dict(v) for t, v in self.settings.items()},
            "includes": [
                {
                    "experiment": i.experiment,
                    "components": dict(i.components),
                    "params": dict(i.params),
                }
                for i in self.includes
            ],
            "data_path": self.data_path,
            "only_keys": None if self.only_keys is None else list(self.only_keys),
            "plugin_modules": list(self.plugin_modules),
            "threads": ["auto" if t is None else t for t in self.threads],
            "deterministic": self.deterministic,
            "max_runs": self.max_runs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Rebuild a spec stored by :meth:`to_json`."""
        return cls(
            plugins=tuple(data.get("plugins") or ()),
            components={c: tuple(n) for c, n in (data.get("components") or {}).items()},
            experiments=None if data.get("experiments") is None else tuple(data["experiments"]),
            devices=tuple(data.get("devices") or ("cpu",)),
            dtype=data.get("dtype", "float32"),
            repeat=int(data.get("repeat", 1)),
            seed=int(data.get("seed", 0)),
            settings={t: dict(v) for t, v in (data.get("settings") or {}).items()},
            includes=tuple(
                Include(
                    i["experiment"], dict(i.get("components") or {}), dict(i.get("params") or {})
                )
                for i in data.get("includes") or ()
            ),
            data_path=data.get("data_path"),
            only_keys=None if data.get("only_keys") is None else tuple(data["only_keys"]),
            plugin_modules=tuple(data.get("plugin_modules") or ()),
            threads=tuple(
                None if t == "auto" else int(t) for t in data.get("threads") or ("auto",)
            ),
            deterministic=bool(data.get("deterministic", False)),
            # a sweep stored before plans had a limit was planned whole: no limit to resume it
            max_runs=int(data.get("max_runs") or MAX_PLAN_RUNS),
        )
