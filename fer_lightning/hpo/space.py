"""Search spaces written in Hydra's override grammar, as Optuna distributions.

A parameter is any config key or group, swept with Hydra's own sweep functions, so the same text works in
a preset (`hydra.sweeper.params`) and on the command line:

    optimizer.lr: tag(log, interval(1e-4, 1e-1))   -> FloatDistribution(log=True)
    data.batch_size: choice(32, 64, 128)            -> CategoricalDistribution
    optimizer: sgd_nesterov,adam                    -> CategoricalDistribution (a config group)
    model.net.depth: range(1, 4)                    -> IntDistribution(1, 3)
    data.num_workers: int(interval(1, 8))           -> IntDistribution(1, 8)

Anything that is not a sweep (`trainer.max_epochs=300`) is passed unchanged to every trial.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, QuotedString, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

_SCALAR = (str, int, float, bool)
# Strings Hydra reads back unquoted as the same string; everything else is quoted.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_KEYWORDS = {"true", "false", "null", "inf", "nan"}


class SearchSpaceError(ValueError):
    """A parameter that cannot become an Optuna distribution: names the key and what was expected."""


@dataclass(frozen=True)
class SearchSpace:
    """distributions: Optuna parameter name -> distribution; keys: parameter name -> the override key
    (with its `+`/`++` prefix and `@package`); fixed: overrides given to every trial unchanged."""

    distributions: dict[str, BaseDistribution]
    keys: dict[str, str]
    fixed: tuple[str, ...]

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of one trial: the fixed ones, then one per sampled parameter."""
        missing = sorted(set(self.distributions) - set(params))
        if missing:
            raise SearchSpaceError(
                f"trial parameters lack {missing}; the search space has {sorted(self.distributions)}"
            )
        return [*self.fixed, *(f"{self.keys[n]}={format_value(params[n])}" for n in self.distributions)]

    def grid(self) -> dict[str, list[Any]]:
        """The space as GridSampler's search space: every parameter must be discrete."""
        grid: dict[str, list[Any]] = {}
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[name] = list(dist.choices)
            elif isinstance(dist, IntDistribution) and not dist.log:
                grid[name] = list(range(dist.low, dist.high + 1, dist.step))
            else:
                raise SearchSpaceError(
                    f"grid search: parameter {name!r} is {dist!r}; expected choice(...) or range(...), "
                    "not an interval"
                )
        return grid

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def to_json(self) -> dict[str, Any]:
        """A JSON description, stored with the study to detect a rerun with another space."""
        return {
            "params": {n: json.loads(distribution_to_json(d)) for n, d in sorted(self.distributions.items())},
            "fixed": sorted(self.fixed),
        }

    def digest(self) -> str:
        """8 hex digits that change with the parameters, their ranges and the fixed overrides."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:8]


def parse_search_space(params: Mapping[str, Any] | None, arguments: Sequence[str] = ()) -> SearchSpace:
    """Build the space from `params` (key -> sweep text, e.g. a preset's `hydra.sweeper.params`) and the
    command-line overrides (`arguments`, which win over `params` for the same key)."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    parser = OverridesParser.create()
    by_name: dict[str, Override] = {}
    for line in lines:
        override = parser.parse_override(line)
        name = _param_name(override)
        by_name.pop(name, None)  # a later override of the same key replaces the earlier one
        by_name[name] = override

    distributions: dict[str, BaseDistribution] = {}
    keys: dict[str, str] = {}
    fixed: list[str] = []
    for name, override in by_name.items():
        if override.is_sweep_override():
            distributions[name] = _distribution(name, override)
            keys[name] = override.get_key_element()
        else:
            fixed.append(
                override.input_line or f"{override.get_key_element()}={override.get_value_element_as_str()}"
            )
    return SearchSpace(distributions, keys, tuple(fixed))


def format_value(value: Any) -> str:
    """A value as Hydra's override grammar reads it back (strings quoted only where needed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS:
            return value
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        raise SearchSpaceError(f"cannot write {value!r} as an override value: it holds both quote kinds")
    if isinstance(value, Mapping):
        items = ",".join(f"{_dict_key(k)}:{format_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Iterable):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    raise SearchSpaceError(f"cannot write {value!r} ({type(value).__name__}) as an override value")


def _dict_key(key: Any) -> str:
    if not (isinstance(key, str) and _PLAIN.fullmatch(key)):
        raise SearchSpaceError(f"dict key {key!r} cannot be written in an override; expected an identifier")
    return key


def _param_name(override: Override) -> str:
    # The Optuna name is the key without +/++ so that a trial's parameters read like the config.
    if override.is_delete():
        return f"~{override.key_or_group}"
    return (
        override.key_or_group if override.package is None else f"{override.key_or_group}@{override.package}"
    )


def _plain(value: Any) -> Any:
    return value.text if isinstance(value, QuotedString) else value


def _distribution(name: str, override: Override) -> BaseDistribution:
    sweep = override.value()
    unknown = set(getattr(sweep, "tags", ())) - {"log"}
    if unknown:
        raise SearchSpaceError(f"{name}: unknown tag(s) {sorted(unknown)}; the only tag understood is 'log'")
    log = "log" in getattr(sweep, "tags", ())

    if isinstance(sweep, ChoiceSweep):
        choices = [_plain(v) for v in sweep.list]
        bad = [c for c in choices if not isinstance(c, _SCALAR)]
        if bad or log:
            raise SearchSpaceError(
                f"{name}: choice values must be strings, numbers or booleans (no log tag); got {override.input_line}"
            )
        return CategoricalDistribution(choices)

    if isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        if not values:
            raise SearchSpaceError(f"{name}: {override.input_line} is empty")
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            step = abs(int(sweep.step))
            if log and step != 1:
                raise SearchSpaceError(f"{name}: a log range needs step 1; got {override.input_line}")
            return IntDistribution(min(values), max(values), step=step, log=log)
        if log:
            raise SearchSpaceError(f"{name}: a float range cannot be log; use tag(log, interval(a, b))")
        return CategoricalDistribution(values)

    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)

    raise SearchSpaceError(
        f"{name}: {override.input_line} is not supported; expected choice(...), a,b,c, range(...) or "
        "[tag(log, )]interval(...) (glob sweeps are not)"
    )


def enqueued_params(entries: Sequence[Mapping[str, Any]], space: SearchSpace) -> list[dict[str, Any]]:
    """Check preset trials (`hydra.sweeper.enqueue_trials`) against the space: every key must be a
    parameter, so that no value is dropped on the way to the trial."""
    out = []
    for i, entry in enumerate(entries):
        unknown = sorted(set(entry) - set(space.distributions))
        if unknown:
            raise SearchSpaceError(
                f"hydra.sweeper.enqueue_trials[{i}]: {unknown} are not search-space parameters; "
                f"expected keys among {sorted(space.distributions)}"
            )
        out.append(dict(entry))
    return out
