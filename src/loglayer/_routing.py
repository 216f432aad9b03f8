"""Groups: tag-based routing of entries to transports (``LogLayer(groups=...)``).

A *group* is a name with the transport IDs it routes to, an optional minimum level and
an on/off switch. Entries are tagged with group names (``log.with_group("db")``, or
``.with_group`` on a builder for one entry). Per entry, the transports it may reach are:

* no group defined: every transport (and nothing here runs: the logger has no routing);
* no tag, or only tags that name no defined group: the ``ungrouped`` rule (``"all"``,
  ``"none"``, or a list of transport IDs);
* otherwise: the union of the transports of the tagged groups that are enabled, active
  (when an active set is given) and whose level the entry meets.

The transports' own levels, enabled switches and gates apply after this, as always.

A :class:`Routing` is immutable and shared by reference between a logger and the
loggers derived from it; the runtime mutators build a new one and swap the reference
on the receiver only (copy-on-write, as plugin sets are). Both cores call
:meth:`Routing.targets`, so the rules are written once; its answers are memoised per
(tags, level), which a snapshot that never changes allows.

``LOGLAYER_GROUPS="db,auth:debug"`` gives the active groups, each with an optional level
that overrides the group's own, when ``active_groups`` is not passed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ._validate import check_bool, check_key, check_level, type_name
from .levels import LogLevel

__all__ = ["Group", "Routing", "build_routing", "check_group_names", "merge_tags"]

_GROUP_KEYS = ("transports", "level", "enabled")
#: Memoised answers per snapshot; past this many (tags, level) pairs, answers are
#: computed each time (tags built from unbounded values would otherwise grow it).
_MEMO_LIMIT = 512
ENV_VAR = "LOGLAYER_GROUPS"


class Group:
    """One group's definition (immutable)."""

    __slots__ = ("transports", "level", "enabled")

    def __init__(self, transports: frozenset[str], level: LogLevel | None,
                 enabled: bool) -> None:
        self.transports = transports
        self.level = level
        self.enabled = enabled

    def replace(self, **changes: Any) -> Group:
        values = {"transports": self.transports, "level": self.level,
                  "enabled": self.enabled, **changes}
        return Group(**values)

    def describe(self, order: tuple[str, ...]) -> dict[str, Any]:
        return {"transports": list(order), "level": self.level, "enabled": self.enabled}


def check_transport_ids(name: str, value: Any) -> tuple[str, ...]:
    """A list or tuple of transport IDs (non-empty strs), as a de-duplicated tuple."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set,
                                                                  frozenset)):
        raise TypeError(f"{name} must be a list of transport IDs, got {type_name(value)}")
    ids: list[str] = []
    for index, item in enumerate(value):
        check_key(f"{name}[{index}]", item, allow_none=False)
        if item not in ids:
            ids.append(item)
    return tuple(ids)


def check_group_names(name: str, names: Iterable[Any]) -> tuple[str, ...]:
    """Group names (non-empty strs), de-duplicated, in order."""
    out: list[str] = []
    for index, item in enumerate(names):
        check_key(f"{name}[{index}]", item, allow_none=False)
        if item not in out:
            out.append(item)
    return tuple(out)


def merge_tags(tags: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    """``tags`` followed by those of ``more`` it lacks."""
    if not tags:
        return more
    added = tuple(tag for tag in more if tag not in tags)
    return tags + added if added else tags


def _check_ungrouped(value: Any) -> Any:
    if value == "all" or value == "none":
        return value
    if isinstance(value, str):
        raise ValueError(f"ungrouped must be 'all', 'none' or a list of transport IDs, "
                         f"got {value!r}")
    return frozenset(check_transport_ids("ungrouped", value))


def _check_group(name: str, spec: Any) -> tuple[Group, tuple[str, ...]]:
    where = f"groups[{name!r}]"
    if not isinstance(spec, Mapping):
        raise TypeError(f"{where} must be a mapping with 'transports' (and optionally "
                        f"'level', 'enabled'), got {type_name(spec)}")
    unknown = [key for key in spec if key not in _GROUP_KEYS]
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown!r}; a group takes "
                         f"{', '.join(_GROUP_KEYS)}")
    if "transports" not in spec:
        raise ValueError(f"{where} must list its 'transports'")
    ids = check_transport_ids(f"{where}.transports", spec["transports"])
    level = spec.get("level")
    level = None if level is None else check_level(f"{where}.level", level)
    enabled = check_bool(f"{where}.enabled", spec.get("enabled", True))
    return Group(frozenset(ids), level, enabled), ids


def parse_env(text: str) -> tuple[tuple[str, ...], dict[str, LogLevel]]:
    """``"db,auth:debug"`` -> (active names, per-group levels)."""
    names: list[str] = []
    levels: dict[str, LogLevel] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, level = part.partition(":")
        name = name.strip()
        if not name:
            raise ValueError(f"{ENV_VAR} must be names separated by commas, each with an "
                             f"optional ':level', got {text!r}")
        if sep:
            levels[name] = check_level(f"{ENV_VAR} ({name})", level.strip())
        if name not in names:
            names.append(name)
    return tuple(names), levels


class Routing:
    """An immutable routing snapshot: groups, the active set, the ungrouped rule."""

    __slots__ = ("groups", "order", "active", "ungrouped", "_ungrouped_targets", "_memo")

    def __init__(self, groups: dict[str, Group], order: dict[str, tuple[str, ...]],
                 active: frozenset[str] | None, ungrouped: Any) -> None:
        self.groups = groups
        self.order = order  # each group's transport IDs in the order given
        self.active = active
        self.ungrouped = ungrouped
        self._ungrouped_targets = (None if ungrouped == "all" else frozenset()
                                   if ungrouped == "none" else ungrouped)
        self._memo: dict[tuple[tuple[str, ...], int], frozenset[str] | None] = {}

    def targets(self, tags: tuple[str, ...], level: int) -> frozenset[str] | None:
        """The IDs of the transports an entry at ``level`` tagged ``tags`` may reach;
        None for every transport."""
        if not self.groups:
            return None
        if not tags:
            return self._ungrouped_targets
        key = (tags, level)
        try:
            return self._memo[key]
        except KeyError:
            pass
        answer = self._compute(tags, level)
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[key] = answer
        return answer

    def _compute(self, tags: tuple[str, ...], level: int) -> frozenset[str] | None:
        defined = False
        reached: set[str] = set()
        for tag in tags:
            group = self.groups.get(tag)
            if group is None:
                continue
            defined = True
            if not group.enabled:
                continue
            if self.active is not None and tag not in self.active:
                continue
            if group.level is not None and level < group.level:
                continue
            reached |= group.transports
        if not defined:
            return self._ungrouped_targets
        return frozenset(reached)

    def _with(self, groups: dict[str, Group] | None = None,
              order: dict[str, tuple[str, ...]] | None = None, active: Any = False) -> Routing:
        return Routing(self.groups if groups is None else groups,
                       self.order if order is None else order,
                       self.active if active is False else active, self.ungrouped)

    # -- the mutators' new snapshots (None: no such group, nothing to change) ----------

    def adding(self, name: Any, transports: Any, level: Any, enabled: Any) -> Routing:
        check_key("add_group() name", name, allow_none=False)
        group, ids = _check_group(name, {"transports": transports, "level": level,
                                         "enabled": enabled})
        return self._with({**self.groups, name: group}, {**self.order, name: ids})

    def removing(self, name: str) -> Routing | None:
        if name not in self.groups:
            return None
        groups = dict(self.groups)
        order = dict(self.order)
        del groups[name], order[name]
        return self._with(groups, order)

    def changing(self, name: str, **changes: Any) -> Routing | None:
        group = self.groups.get(name)
        if group is None:
            return None
        return self._with({**self.groups, name: group.replace(**changes)})

    def activating(self, names: Any) -> Routing:
        if names is None:
            return self._with(active=None)
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise TypeError(f"set_active_groups() needs a list of group names or None, "
                            f"got {type_name(names)}")
        return self._with(active=frozenset(check_group_names("set_active_groups()", names)))

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: group.describe(self.order[name]) for name, group in self.groups.items()}


def empty_routing() -> Routing:
    """The routing of a logger given no group options, for a first ``add_group``."""
    return Routing({}, {}, None, "all")


def build_routing(groups: Any, active_groups: Any, ungrouped: Any) -> Routing | None:
    """The constructor's routing, or None when there is nothing to route: no groups, no
    active set, ``ungrouped="all"`` and no ``LOGLAYER_GROUPS``."""
    ungrouped = _check_ungrouped(ungrouped)
    defined: dict[str, Group] = {}
    order: dict[str, tuple[str, ...]] = {}
    if groups is not None:
        if not isinstance(groups, Mapping):
            raise TypeError(f"groups must be a mapping of group names to group settings "
                            f"or None, got {type_name(groups)}")
        for name, spec in groups.items():
            check_key("groups key", name, allow_none=False)
            defined[name], order[name] = _check_group(name, spec)
    active: frozenset[str] | None
    if active_groups is not None:
        if isinstance(active_groups, str) or not isinstance(active_groups, Iterable):
            raise TypeError(f"active_groups must be a list of group names or None, "
                            f"got {type_name(active_groups)}")
        active = frozenset(check_group_names("active_groups", active_groups))
    else:
        active = None
        text = os.environ.get(ENV_VAR, "")
        if text.strip():
            names, levels = parse_env(text)
            active = frozenset(names)
            for name, level in levels.items():
                if name in defined:
                    defined[name] = defined[name].replace(level=level)
    if not defined and active is None and ungrouped == "all":
        return None
    return Routing(defined, order, active, ungrouped)
