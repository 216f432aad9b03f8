"""Helpers for testing code that logs, and for testing plugins.

* ``TestTransport`` keeps every entry it receives, so a test can assert on exactly
  what the pipeline produced.
* ``install(plugin)`` gives a fresh logger with the plugin and a ``TestTransport``.
* ``assert_no_mutation(hook, value)`` proves a hook leaves the caller's data alone
  (plugins must not mutate caller input; the core does not copy it for them).
* ``assert_panic_recovered(build, emit)`` proves a failing hook never reaches the log
  call and is reported to the plugin's ``on_error`` as a ``PluginError``.
* ``new_mock()`` is a logger that discards everything, for code under test that needs
  a logger but whose logs are beside the point.
* ``TransportContract`` is a pytest base class that checks a transport keeps
  loglayer's transport contract; a subclass makes the transport and reads back what it
  wrote, as ``WrittenEntry`` objects (see ``loglayer._contract``). It loads on first
  use, with pytest.

A worked example: testing a plugin that upper-cases a ``user`` metadata key::

    from loglayer import LogLevel, Plugin
    from loglayer.testing import assert_no_mutation, assert_panic_recovered, install

    class Shout(Plugin):
        def __init__(self, fail=False):
            super().__init__("shout")
            self.fail = fail

        def on_metadata_called(self, metadata):
            if self.fail:
                raise RuntimeError("boom")
            return {**metadata, "user": metadata["user"].upper()}

    def test_shout_changes_the_entry():
        log, transport = install(Shout(), level=LogLevel.INFO)
        log.with_metadata({"user": "ada"}).info("hi")
        assert transport.last_line().metadata == {"user": "ADA"}

    def test_shout_leaves_the_callers_dict_alone():
        result = assert_no_mutation(Shout().on_metadata_called, {"user": "ada"})
        assert result == {"user": "ADA"}

    def test_shout_failure_is_recovered():
        err = assert_panic_recovered(
            lambda: Shout(fail=True),
            lambda log: log.with_metadata({"user": "ada"}).info("hi"),
        )
        assert err.hook == "on_metadata_called"
        assert isinstance(err.__cause__, RuntimeError)
"""

from __future__ import annotations

import copy
import difflib
import enum
import threading
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._select import LogEntry, LogLayer, Transport
from .errors import PluginError
from .typing import LevelLike

if TYPE_CHECKING:
    from ._contract import TransportContract, WrittenEntry
else:
    def __getattr__(name: str) -> Any:
        """``TransportContract`` and ``WrittenEntry`` load on first use: they need pytest,
        which the rest of this module does not."""
        if name in ("TransportContract", "WrittenEntry"):
            from . import _contract

            return getattr(_contract, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | {"TransportContract", "WrittenEntry"})

__all__ = [
    "TestTransport",
    "TransportContract",
    "WrittenEntry",
    "assert_no_mutation",
    "assert_panic_recovered",
    "install",
    "new_mock",
]


class TestTransport(Transport):
    """Keeps each entry in ``lines``; thread-safe.

    Each line is the entry itself, with ``level``, ``messages`` (the original
    objects), ``data`` (always a dict), ``metadata``, ``error``, ``ctx``, ``prefix``,
    ``fields`` and ``time_ns``.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, id: str = "", *, level: LevelLike | None = None,
                 enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        self._lock = threading.Lock()
        self._lines: list[LogEntry] = []

    @property
    def lines(self) -> list[LogEntry]:
        """A snapshot of the entries received so far, oldest first."""
        with self._lock:
            return list(self._lines)

    def send(self, entry: LogEntry) -> None:
        with self._lock:
            self._lines.append(entry)

    def last_line(self) -> LogEntry | None:
        """The newest entry, or None when there is none."""
        with self._lock:
            return self._lines[-1] if self._lines else None

    def pop_line(self) -> LogEntry | None:
        """Remove and return the newest entry, or None when there is none."""
        with self._lock:
            return self._lines.pop() if self._lines else None

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)


class _DiscardTransport(Transport):
    """Takes every entry and keeps none of them."""

    def send(self, entry: LogEntry) -> None:
        pass


def install(plugin: Any, **config: Any) -> tuple[LogLayer, TestTransport]:
    """A fresh logger with ``plugin`` installed and a ``TestTransport``: ``(log, transport)``.

    ``config`` goes to the ``LogLayer`` constructor (``level``, ``fields``, ...), except
    ``transports`` and ``plugins``, which ``install`` sets.
    """
    transport = TestTransport("test")
    return LogLayer(transports=transport, plugins=[plugin], **config), transport


def new_mock(**config: Any) -> LogLayer:
    """A logger that discards everything, for code under test that must be given one.

    Every entry still goes through the whole pipeline (plugins passed in ``config``
    included), then to a transport whose ``send`` does nothing.
    """
    return LogLayer(transports=_DiscardTransport("discard"), **config)


_LEAVES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, enum.Enum)
_DESCRIPTORS = (types.GetSetDescriptorType, types.MemberDescriptorType, property)


def _attribute_names(obj: Any) -> list[str] | None:
    """The names holding an object's state, or None for an opaque object.

    Python classes keep it in ``__dict__`` and ``__slots__``; extension types (the
    compiled core's ``HookParams`` and ``LogEntry``) expose it as public descriptors.
    """
    cls = type(obj)
    names: list[str] = []
    has_dict = hasattr(obj, "__dict__")
    if has_dict:
        names.extend(vars(obj))
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend(n for n in ((slots,) if isinstance(slots, str) else slots)
                     if n not in ("__dict__", "__weakref__") and n not in names)
    if isinstance(obj, BaseException):
        names.append("args")  # kept in C, not in __dict__
    if names or has_dict:
        return names
    if cls.__eq__ is not object.__eq__:
        return None  # a value type (datetime, Decimal ...): compared with ==
    return sorted({name for klass in cls.__mro__ if klass is not object
                   for name, attr in vars(klass).items()
                   if isinstance(attr, _DESCRIPTORS) and not name.startswith("_")}) or None


class _Marker(str):
    """A placeholder in a snapshot, shown without quotes in a diff."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


_CYCLE = _Marker("<cycle>")
_UNSET = _Marker("<unset>")


class _Shape(dict):
    """An object's state in a snapshot: its attributes, plus its class for display."""

    def __init__(self, cls: type, attrs: dict[str, Any]) -> None:
        super().__init__(attrs)
        self.cls = f"{cls.__module__}.{cls.__qualname__}"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Shape) and self.cls == other.cls
                and dict.__eq__(self, other))

    __hash__ = None


def _snapshot(value: Any, path: frozenset[int] = frozenset()) -> Any:
    """``value`` as plain dicts, lists, tuples and ``_Shape``s, comparable with ``==``.

    Comparing attribute by attribute means two equal snapshots mean equal state even
    for classes that compare by identity. A cycle shows as ``<cycle>``. Sets,
    scalars and value types are kept as they are.
    """
    if id(value) in path:
        return _CYCLE
    inner = path | {id(value)}
    if isinstance(value, dict):
        return {key: _snapshot(item, inner) for key, item in value.items()}
    if isinstance(value, list):
        return [_snapshot(item, inner) for item in value]
    if isinstance(value, tuple):
        return tuple(_snapshot(item, inner) for item in value)
    if value is None or isinstance(value, (str, bytes, bytearray, int, float, complex,
                                           set, frozenset, *_LEAVES)):
        return value
    names = _attribute_names(value)
    if names is None:
        if type(value).__eq__ is object.__eq__:
            return _Marker(f"<opaque {type(value).__qualname__}>")
        return value
    return _Shape(type(value), {name: _snapshot(getattr(value, name, _UNSET), inner)
                                for name in names})


def _lines(snapshot: Any, where: str) -> list[str]:
    """One ``where: value`` line per leaf, so a diff points at what changed."""
    if isinstance(snapshot, _Shape):
        lines = [f"{where}: <{snapshot.cls}>"]
        for name in sorted(snapshot):
            lines.extend(_lines(snapshot[name], f"{where}.{name}"))
        return lines
    if isinstance(snapshot, dict) and snapshot:
        return [line for key in sorted(snapshot, key=repr)
                for line in _lines(snapshot[key], f"{where}[{key!r}]")]
    if isinstance(snapshot, (list, tuple)) and snapshot:
        return [line for index, item in enumerate(snapshot)
                for line in _lines(item, f"{where}[{index}]")]
    return [f"{where}: {snapshot!r}"]


def assert_no_mutation(hook: Callable[[Any], Any], value: Any) -> Any:
    """Call ``hook(value)`` and fail if ``value`` changed; return the hook's result.

    The value is deep-copied first; afterwards the copy and the caller's value are
    compared attribute by attribute (so classes that compare by identity work too) and
    a change raises ``AssertionError`` with a unified diff of the two, one line per
    leaf (``value['user']['name']: 'ada'``), so it names what changed. Objects whose
    state is invisible from Python (neither ``__dict__``, ``__slots__``, public
    descriptors nor ``__eq__``) cannot be checked and are treated as unchanged.
    ``value`` must be deep-copyable.
    """
    try:
        before = copy.deepcopy(value)
    except Exception as exc:
        raise TypeError(f"assert_no_mutation: cannot deep-copy a {type(value).__name__}: "
                        f"{exc}") from exc
    result = hook(value)
    expected, actual = _snapshot(before), _snapshot(value)
    if expected != actual:
        diff = difflib.unified_diff(_lines(expected, "value"), _lines(actual, "value"),
                                    "before the hook", "after the hook", lineterm="")
        name = getattr(hook, "__qualname__", None) or repr(hook)
        raise AssertionError(f"{name} mutated its argument:\n" + "\n".join(diff))
    return result


class _Reporting:
    """A plugin seen through a proxy whose ``on_error`` records each ``PluginError``.

    The proxy leaves the plugin itself unchanged: every other attribute, hooks
    included, is the plugin's own, and the plugin's ``on_error`` (if any) still runs.
    """

    def __init__(self, plugin: Any) -> None:
        self._plugin = plugin
        self._original = getattr(plugin, "on_error", None)
        self.errors: list[PluginError] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plugin, name)

    def on_error(self, err: PluginError) -> None:
        self.errors.append(err)
        if callable(self._original):
            self._original(err)


def assert_panic_recovered(build: Callable[[], Any],
                           emit: Callable[[LogLayer], Any]) -> PluginError:
    """Check that a raising hook is recovered and reported; return the ``PluginError``.

    ``build()`` returns a plugin with a hook that raises; ``emit(log)`` makes a log call
    that runs that hook on a fresh logger (level TRACE, a ``TestTransport``). Fails when
    the log call raises, or when the plugin's ``on_error`` received no ``PluginError``.
    A plugin without ``on_error`` gets one for the test; one that has it keeps it (it is
    called too). Returns the first error, with ``plugin_id``, ``hook`` and, as
    ``__cause__``, what the hook raised.
    """
    proxy = _Reporting(build())
    log, _ = install(proxy)
    try:
        emit(log)
    except Exception as exc:
        raise AssertionError(f"the log call raised instead of recovering: {exc!r}") from exc
    if not proxy.errors:
        raise AssertionError("no PluginError reached on_error: the hook did not raise, or "
                             "emit() did not run it")
    return proxy.errors[0]
