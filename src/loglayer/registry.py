"""Plugins and transports by name: an in-process registry fed by code and entry points.

This is compile-time registration in Python's spelling. A name maps to a *factory*, a
callable that takes keyword options and returns a plugin (or a transport), so a logger
can be described as plain data (see ``LogLayer.from_config``) and a team can ship its
own plugins as ordinary distributions::

    from loglayer import registry

    registry.register_plugin("tenant", make_tenant_plugin)
    plugin = registry.get_plugin("tenant", header="X-Tenant")

Distributions make names available without being imported by the application, by
declaring entry points in their ``pyproject.toml``::

    [project.entry-points."loglayer.plugins"]
    tenant = "acme_logging.tenant:make_tenant_plugin"

    [project.entry-points."loglayer.transports"]
    kafka = "acme_logging.kafka:KafkaTransport"

How names are found, and why:

* The built-ins (plugins ``redact``, ``sprintf``, ``filter``, ``otel_trace``,
  ``sampling.fixed_rate``, ``sampling.per_level``, ``sampling.burst``; transports
  ``structured``, ``console``, ``blank``, ``stdlib``, ``file``, ``queue``, ``otlp``,
  ``http``, ``journald``, ``syslog``) are listed as ``"module:attr"`` references and
  imported only when their name is first looked up, so ``import loglayer`` pays nothing
  for them and an optional dependency that is missing fails only its own name.
* Installed entry points are read once, the first time a name is not already known (or
  when ``register_*`` needs to check a name against them). An application that uses
  only built-ins never scans its environment.
* An entry point's code is imported only when its name is looked up. An entry point
  that fails to import raises an ``ImportError`` naming its distribution, for that name
  only: the other names keep working. A distribution whose entry-point metadata cannot
  even be read is set aside (and named when a lookup finds nothing), where
  ``importlib.metadata.entry_points()`` alone would fail for every distribution.
* A name belongs to one origin. Registering a taken name raises ``ValueError`` naming
  both origins; when two installed distributions (or a distribution and a registration)
  claim one name, looking that name up raises the same error instead of picking one
  silently. The ``loglayer`` distribution's own entry points for its built-ins are the
  built-ins, not a second claim.

The registry is thread-safe; lookups of known names take no lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "PLUGIN_GROUP",
    "TRANSPORT_GROUP",
    "get_plugin",
    "get_transport",
    "plugin_factory",
    "plugin_names",
    "register_plugin",
    "register_transport",
    "transport_factory",
    "transport_names",
]

#: The entry-point group that declares plugin factories.
PLUGIN_GROUP = "loglayer.plugins"
#: The entry-point group that declares transport factories.
TRANSPORT_GROUP = "loglayer.transports"

_OWN_DISTRIBUTION = "loglayer"

#: Built-in plugin factories, resolved on first use (``module:attr``, as in an entry point).
_BUILTIN_PLUGINS: Mapping[str, str] = {
    "redact": "loglayer.plugins:redact",
    "sprintf": "loglayer.plugins:sprintf",
    "filter": "loglayer.plugins:filter",
    "otel_trace": "loglayer.plugins:otel_trace",
    "sampling.fixed_rate": "loglayer.plugins:sampling.fixed_rate",
    "sampling.per_level": "loglayer.plugins:sampling.per_level",
    "sampling.burst": "loglayer.plugins:sampling.burst",
}

#: Built-in transport factories, resolved on first use.
_BUILTIN_TRANSPORTS: Mapping[str, str] = {
    "structured": "loglayer.transports:StructuredTransport",
    "console": "loglayer.transports:ConsoleTransport",
    "blank": "loglayer.transports:BlankTransport",
    "stdlib": "loglayer.transports:StdlibTransport",
    "file": "loglayer.transports:FileTransport",
    "queue": "loglayer.transports:QueueTransport",
    "otlp": "loglayer.transports:OtlpTransport",
    "http": "loglayer.transports:HttpTransport",
    "journald": "loglayer.transports:JournaldTransport",
    "syslog": "loglayer.transports:SyslogTransport",
}


def _normalize(dist_name: str) -> str:
    """A distribution name as PEP 503 compares them (``My_Plug`` == ``my-plug``)."""
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _origin_of(factory: Any) -> str:
    """Where a factory registered in code comes from: ``module:qualname``."""
    module = getattr(factory, "__module__", None) or "?"
    qualname = getattr(factory, "__qualname__", None) or repr(factory)
    return f"{module}:{qualname}"


def _installed_entry_points(
        group: str) -> tuple[list[tuple[importlib.metadata.EntryPoint, str | None]], list[str]]:
    """The group's entry points with their distribution's name, and the unreadable ones.

    Distributions are read one by one, unlike ``importlib.metadata.entry_points()``,
    which fails as a whole when a single distribution's ``entry_points.txt`` is
    malformed: here that distribution is set aside, named, and the others still count.
    As in ``importlib.metadata``, the first distribution of a name on ``sys.path`` wins.
    """
    import importlib.metadata  # here, not at import: it costs more than loglayer itself

    found: list[tuple[importlib.metadata.EntryPoint, str | None]] = []
    unreadable: list[str] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = None
        try:
            # get_all, not [] (which warns on 3.12+ when missing), nor get (typed on
            # 3.12+ only): the first Name, or None
            names = dist.metadata.get_all("Name")
            name = names[0] if names else None
            if name is not None:
                if _normalize(name) in seen:
                    continue
                seen.add(_normalize(name))
            found.extend((ep, name) for ep in dist.entry_points if ep.group == group)
        except Exception as exc:
            unreadable.append(f"distribution {name or 'with no name'!r}: "
                              f"{type(exc).__name__}: {exc}")
    return found, unreadable


class _Entry:
    """One name: its origin, and either a loaded factory or an entry point to load."""

    __slots__ = ("origin", "factory", "entry_point", "conflict")

    def __init__(self, origin: str, factory: Callable[..., Any] | None = None,
                 entry_point: importlib.metadata.EntryPoint | None = None) -> None:
        self.origin = origin
        self.factory = factory
        self.entry_point = entry_point
        #: The origin of a second claim on this name, found by discovery; lookups then fail.
        self.conflict: str | None = None


class _Registry:
    """The names of one kind (plugins or transports)."""

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._entries: dict[str, _Entry] | None = None  # filled on first use
        self._discovered = False
        #: Distributions whose entry points could not be read, as "name: error" lines.
        self._unreadable: list[str] = []
        self._lock = threading.RLock()

    # -- state ---------------------------------------------------------------------

    def _table(self) -> dict[str, _Entry]:
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    import importlib.metadata

                    self._entries = {
                        name: _Entry(f"loglayer (built-in, {ref})",
                                     entry_point=importlib.metadata.EntryPoint(
                                         name, ref, self.group))
                        for name, ref in self._builtins.items()
                    }
                entries = self._entries
        return entries

    def _discover(self) -> None:
        """Read the installed entry points of this group, once; import none of them."""
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            found, self._unreadable = _installed_entry_points(self.group)
            table = self._table()
            for ep, dist_name in found:
                if (dist_name is not None and _normalize(dist_name) == _OWN_DISTRIBUTION
                        and ep.name in self._builtins):
                    continue  # loglayer declaring its own built-ins: already in the table
                origin = (f"distribution {dist_name!r} (entry point {ep.name} = {ep.value})"
                          if dist_name is not None
                          else f"an unnamed distribution (entry point {ep.name} = {ep.value})")
                current = table.get(ep.name)
                if current is None:
                    table[ep.name] = _Entry(origin, entry_point=ep)
                elif current.conflict is None:
                    current.conflict = origin
            self._discovered = True

    # -- API -----------------------------------------------------------------------

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        if not name:
            raise ValueError(f"{self.kind} name must not be empty")
        if not callable(factory):
            raise TypeError(f"{self.kind} factory for {name!r} must be callable, "
                            f"got {type(factory).__name__}")
        origin = _origin_of(factory)
        with self._lock:
            self._discover()
            table = self._table()
            current = table.get(name)
            if current is not None:
                raise ValueError(f"{self.kind} {name!r} is already registered by "
                                 f"{current.origin}; cannot register it again from {origin}")
            table[name] = _Entry(origin, factory=factory)

    def factory(self, name: str) -> Callable[..., Any]:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        entry = self._table().get(name)
        if entry is None:
            self._discover()
            entry = self._table().get(name)
            if entry is None:
                known = ", ".join(self.names()) or "none"
                unreadable = "".join(f"; could not read the entry points of {line}"
                                     for line in self._unreadable)
                raise LookupError(f"unknown {self.kind} {name!r}; known {self.kind}s: "
                                  f"{known}{unreadable}")
        if entry.conflict is not None:
            raise ValueError(f"{self.kind} {name!r} is claimed twice: by {entry.origin} and by "
                             f"{entry.conflict}; uninstall or rename one of them")
        factory = entry.factory
        if factory is None:
            factory = self._load(name, entry)
        return factory

    def _load(self, name: str, entry: _Entry) -> Callable[..., Any]:
        ep = entry.entry_point
        assert ep is not None  # an entry without a factory always has an entry point
        try:
            factory = ep.load()
        except Exception as exc:
            raise ImportError(f"{self.kind} {name!r} from {entry.origin} failed to load: "
                              f"{type(exc).__name__}: {exc}", name=ep.module) from exc
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} from {entry.origin} is not callable: "
                            f"{ep.value} is a {type(factory).__name__}")
        entry.factory = factory  # a failed load is retried at the next lookup
        return factory

    def names(self) -> list[str]:
        self._discover()
        with self._lock:  # a registration on another thread must not resize it under us
            return sorted(self._table())


_PLUGINS = _Registry("plugin", PLUGIN_GROUP, _BUILTIN_PLUGINS)
_TRANSPORTS = _Registry("transport", TRANSPORT_GROUP, _BUILTIN_TRANSPORTS)


def register_plugin(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**options)`` available as the plugin ``name``.

    Raises ``ValueError`` naming both origins when ``name`` is already taken (by a
    built-in, an earlier registration or an installed entry point), ``TypeError`` when
    ``factory`` is not callable.
    """
    _PLUGINS.register(name, factory)


def register_transport(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**options)`` available as the transport ``name``.

    Same rules as ``register_plugin``.
    """
    _TRANSPORTS.register(name, factory)


def plugin_factory(name: str) -> Callable[..., Any]:
    """The factory registered as the plugin ``name``, loading its entry point if needed.

    Raises ``LookupError`` listing the known names when there is none, ``ImportError``
    naming the distribution when its entry point fails to load, and ``ValueError`` when
    two origins claim the name.
    """
    return _PLUGINS.factory(name)


def transport_factory(name: str) -> Callable[..., Any]:
    """The factory registered as the transport ``name``; errors as ``plugin_factory``."""
    return _TRANSPORTS.factory(name)


def get_plugin(name: str, /, **options: Any) -> Any:
    """A new plugin: ``plugin_factory(name)(**options)``."""
    return _PLUGINS.factory(name)(**options)


def get_transport(name: str, /, **options: Any) -> Any:
    """A new transport: ``transport_factory(name)(**options)``."""
    return _TRANSPORTS.factory(name)(**options)


def plugin_names() -> list[str]:
    """Every known plugin name, sorted, installed entry points included."""
    return _PLUGINS.names()


def transport_names() -> list[str]:
    """Every known transport name, sorted, installed entry points included."""
    return _TRANSPORTS.names()
