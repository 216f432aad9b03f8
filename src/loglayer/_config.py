"""Build a logger from plain data: ``from_config(mapping)`` and ``load_config(path)``.

A configuration names its transports and plugins, which the registry
(``loglayer.registry``) turns into objects, so a deployment can change how it logs by
editing a file::

    level = "info"
    prefix = "[api]"

    [[transports]]
    name = "structured"
    options = { time_format = "epoch_ms" }

    [[plugins]]
    name = "redact"
    options = { keys = ["password", "token"] }

Besides ``level``, ``transports`` and ``plugins``, the keys are the logger's own simple
settings: ``enabled``, ``name``, ``prefix``, ``fields``, ``fields_key``, ``metadata_key``,
``error_key``, ``copy_msg_on_only_error``, ``mute_fields``, ``mute_metadata``,
``source``, ``source_key``, ``level_manager``, ``groups``, ``active_groups`` and
``ungrouped``.
Without ``transports`` the logger gets its default console transport. A queue's
``inner`` transport (one entry or a list) and its ``plugins`` are entries too::

    [[transports]]
    name = "queue"
    options = { inner = { name = "file", options = { path = "app.log" } },
                plugins = [{ name = "redact", options = { keys = ["password"] } }] }

Every mistake is reported before anything is built, or else undone (transports already
built are closed), and the message starts with the path of the offending key, e.g.
``plugins[1].options.rate: must be between 0 and 1``. Unknown keys and names raise
``ValueError``; values of the wrong type raise ``TypeError``: options are checked
against the factory's signature and type hints before the factory is called, and an
error the factory itself raises is re-raised with the path in front.
"""

from __future__ import annotations

import collections.abc
import contextlib
import enum
import json
import os
import sys
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import registry
from ._common import on_kernel
from ._family import LEVEL_MANAGERS
from ._select import LogLayer
from ._validate import (
    check_bool,
    check_choice,
    check_key,
    check_level,
    check_mapping,
    check_type,
    type_name,
)
from .levels import LogLevel

if TYPE_CHECKING:
    import inspect

__all__ = ["from_config", "load_config"]

#: The keys of one transport or plugin entry.
_ENTRY_KEYS = ("name", "options")

#: How deep mappings and lists may nest in a configuration; deeper is a mistake (or a
#: structure that contains itself), reported before anything recurses into it.
_MAX_DEPTH = 100


def _at(path: str) -> str:
    """How a message names the value at ``path``: ``plugins[0].name: must be a str, ...``."""
    return f"{path}:"


def _with_path(message: str, exc: BaseException) -> Exception:
    """A new exception of ``exc``'s broad kind (TypeError, ImportError, else ValueError)."""
    for kind in (TypeError, ImportError):
        if isinstance(exc, kind):
            return kind(message)
    return ValueError(message)


def _bool(path: str, value: Any) -> bool:
    return check_bool(_at(path), value)


def _key(path: str, value: Any) -> str | None:
    return check_key(_at(path), value)


def _prefix(path: str, value: Any) -> str | None:
    return check_type(_at(path), value, (str, type(None)), "a str or None")


def _name(path: str, value: Any) -> str | None:
    return check_key(_at(path), value)


def _error_key(path: str, value: Any) -> str | None:
    return check_key(_at(path), value, allow_none=False)


def _fields(path: str, value: Any) -> dict:
    fields = check_mapping(_at(path), value)
    for key in fields:
        check_type(_at(f"{path}.{key}"), key, str, "a str key")
    return fields


def _level(path: str, value: Any) -> LogLevel:
    return check_level(_at(path), value)


def _level_manager(path: str, value: Any) -> str:
    return check_choice(_at(path), value, LEVEL_MANAGERS)


# Groups: the shapes here; each group's settings are checked by the constructor, whose
# messages name them as this file does (groups['db'].level ...).

def _groups(path: str, value: Any) -> Mapping[str, Any]:
    return check_type(_at(path), value, Mapping, "a mapping of group names to settings")


def _group_names(path: str, value: Any) -> list[str]:
    check_type(_at(path), value, (list, tuple), "a list of group names")
    for index, name in enumerate(value):
        check_key(_at(f"{path}[{index}]"), name, allow_none=False)
    return list(value)


def _ungrouped(path: str, value: Any) -> Any:
    if isinstance(value, str):
        return check_choice(_at(path), value, ("all", "none"))
    _group_names(path, value)  # transport IDs: the same shape
    return list(value)


#: Top-level keys passed straight to the LogLayer constructor, with their checkers.
_SIMPLE_KEYS: dict[str, Callable[[str, Any], Any]] = {
    "level": _level,
    "enabled": _bool,
    "prefix": _prefix,
    "name": _name,
    "fields": _fields,
    "fields_key": _key,
    "metadata_key": _key,
    "error_key": _error_key,
    "copy_msg_on_only_error": _bool,
    "mute_fields": _bool,
    "mute_metadata": _bool,
    "source": _bool,
    "source_key": _error_key,
    "level_manager": _level_manager,
    "groups": _groups,
    "active_groups": _group_names,
    "ungrouped": _ungrouped,
}

_TOP_KEYS = ("level", "transports", "plugins", *sorted(k for k in _SIMPLE_KEYS if k != "level"))


# -- options against a factory's signature ---------------------------------------------


def _signature_target(factory: Callable[..., Any]) -> tuple[Callable[..., Any], bool]:
    """What to read the parameters of, and whether its first parameter is ``self``.

    For a class, ``__init__`` is what takes the options; a ``__new__`` that only
    forwards ``**options`` (as the built-in transports' do) would hide them.
    """
    if isinstance(factory, type):
        init = factory.__init__  # type: ignore[misc]  # the class's own, read off the class
        if init is not object.__init__:
            return init, True
    return factory, False


def _signature(factory: Callable[..., Any]) -> tuple[inspect.Signature | None, dict[str, Any]]:
    """The factory's keyword parameters and resolved type hints; (None, {}) if unknown."""
    import inspect  # here: only a configuration that names a factory needs it

    target, bound = _signature_target(factory)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: the factory checks
        return None, {}
    if bound:
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # hints naming what only exists for type checkers: skip them
        hints = {}
    return sig, hints


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``, for the shapes configuration data can take.

    Unions, Optional, Literal, plain classes and the origins of generics (``list[str]``
    is checked as ``list``) are checked; anything else is accepted and left to the
    factory. ``float`` accepts ints, and neither ``int`` nor ``float`` accepts bools.
    A stream hint (``TextIO``, ``BinaryIO``, ``IO[...]``) accepts any object with a
    ``write`` method, as those hints are only annotations: ``io.StringIO`` and
    ``sys.stderr`` are not instances of ``typing.TextIO``. A protocol ``isinstance``
    cannot check is left to the factory.
    """
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if hint in _STREAM_HINTS or origin is typing.IO:
        return callable(getattr(value, "write", None))
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is collections.abc.Callable:
        return callable(value)
    if origin is not None:
        hint = origin
    if not isinstance(hint, type):
        return True  # a TypeVar, a NewType, a string we could not resolve ...
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int and isinstance(value, bool):
        return False
    if issubclass(hint, enum.Enum) and not isinstance(value, hint):
        return isinstance(value, (str, int))  # a name or number the factory converts
    try:
        return isinstance(value, hint)
    except TypeError:  # a Protocol that is not runtime-checkable, an odd metaclass...
        return True


#: Annotations for streams, which no real stream is an instance of.
_STREAM_HINTS = (typing.IO, typing.TextIO, typing.BinaryIO)


def _describe(hint: Any) -> str:
    """``hint`` as an error message names it, the same on every Python version.

    A union reads ``bool | None`` however it was spelled (``Optional[bool]``,
    ``Union[bool, None]``), and whatever the version made of it: on 3.10,
    ``get_type_hints`` turns ``colors: bool | None = None`` into ``Optional[bool]``.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        streams = any(arg in _STREAM_HINTS or typing.get_origin(arg) is typing.IO
                      for arg in args)
        return (" or " if streams else " | ").join(_describe(arg) for arg in args)
    if hint in _STREAM_HINTS or origin is typing.IO:
        return "a stream (an object with a write method)"
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and origin is None:  # on 3.10 ``list[str]`` passes for a type
        return hint.__name__
    return str(hint).replace("typing.", "")


def _check_options(path: str, what: str, factory: Callable[..., Any],
                   options: Mapping[str, Any]) -> None:
    sig, hints = _signature(factory)
    if sig is None:
        return
    params = sig.parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    by_keyword = {name: p for name, p in params.items()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for name, value in options.items():
        param = by_keyword.get(name)
        if param is None:
            if accepts_any:
                continue
            expected = ", ".join(by_keyword) or "none"
            raise ValueError(f"{path}.{name}: unknown option for {what}; "
                             f"expected one of: {expected}")
        hint = hints.get(name)
        if hint is not None and not _matches(value, hint):
            raise TypeError(f"{path}.{name}: must be {_describe(hint)}, "
                            f"got {type_name(value)}")
    for name, param in by_keyword.items():
        if param.default is param.empty and name not in options:
            raise ValueError(f"{path}.{name}: missing, {what} requires it")


def _reraise(path: str, options: Mapping[str, Any], exc: TypeError | ValueError) -> typing.NoReturn:
    """Re-raise a factory's error with the path of the option it is about, if it names one.

    ``rate must be between 0 and 1`` from the factory of ``plugins[1]`` becomes
    ``plugins[1].options.rate: must be between 0 and 1``.
    """
    message = str(exc)
    for name in options:
        if message.startswith(name) and message[len(name):len(name) + 1] in (" ", ":"):
            message = f"{path}.{name}: {message[len(name):].lstrip(' :')}"
            break
    else:
        message = f"{path}: {message}"
    raise _with_path(message, exc) from exc


def _os_option(path: str, options: Mapping[str, Any], exc: OSError) -> str:
    """The path of the option an ``OSError`` is about (the one holding its filename),
    else the entry's."""
    if exc.filename is not None:
        for name, value in options.items():
            with contextlib.suppress(TypeError, ValueError):
                if isinstance(value, (str, bytes, os.PathLike)) and (
                        os.fsdecode(value) == os.fsdecode(exc.filename)):
                    return f"{path}.options.{name}"
    return path


def _os_error(message: str, exc: OSError) -> OSError:
    """An ``OSError`` of ``exc``'s type (``FileNotFoundError``...) saying ``message``,
    with its ``errno``: the caller chains ``exc``, which keeps the rest."""
    try:
        new = type(exc)(message)
    except Exception:  # a subclass whose constructor wants more
        new = OSError(message)
    new.errno = exc.errno
    return new


def _build(kind: str, path: str, item: Any,
           lookup: Callable[[str], Callable[..., Any]]) -> Any:
    """One ``{"name": ..., "options": {...}}`` entry, built through the registry."""
    check_type(_at(path), item, Mapping, 'a mapping like {"name": ..., "options": {...}}')
    for key in item:
        if key not in _ENTRY_KEYS:
            raise ValueError(f"{path}.{key}: unknown key; expected one of: "
                             f"{', '.join(_ENTRY_KEYS)}")
    if "name" not in item:
        raise ValueError(f"{path}.name: missing; every {kind} needs a name")
    name = check_type(_at(f"{path}.name"), item["name"], str, "a str")
    options = check_type(_at(f"{path}.options"), item.get("options", {}), Mapping, "a mapping")
    for key in options:
        check_type(_at(f"{path}.options.{key}"), key, str, "a str key")
    try:
        factory = lookup(name)
    except LookupError as exc:  # the message lists the known names: nothing to add
        raise ValueError(f"{path}.name: {exc}") from None
    except (ImportError, TypeError, ValueError) as exc:  # broken, or claimed twice
        raise _with_path(f"{path}.name: {exc}", exc) from exc
    what = f"{kind} {name!r}"
    nested: list = []
    if kind == "transport":
        options = _with_nested(path, options, nested)
    try:
        _check_options(f"{path}.options", what, factory, options)
        return _construct(path, factory, options)
    except BaseException:
        _close_all(nested)
        raise
    finally:
        nested.clear()


def _with_nested(path: str, options: Mapping, built: list) -> Mapping:
    """A transport's options with the transports and plugins it wraps built first: a
    queue's ``inner`` (one ``{"name": ...}`` entry or a list of them) and its
    ``plugins``. What is built is appended to ``built`` (closed if the rest fails)."""
    if "inner" not in options and "plugins" not in options:
        return options
    options = dict(options)
    inner = options.get("inner")
    if isinstance(inner, Mapping):
        built.append(_build("transport", f"{path}.options.inner", inner,
                            registry.transport_factory))
        options["inner"] = built[-1]
    elif "inner" in options and not isinstance(inner, (str, bytes)) \
            and isinstance(inner, collections.abc.Iterable):
        for i, item in enumerate(list(inner)):
            built.append(_build("transport", f"{path}.options.inner[{i}]", item,
                                registry.transport_factory))
        options["inner"] = list(built)
    if "plugins" in options:
        items = _entries(f"{path}.options.plugins", options["plugins"])
        options["plugins"] = [_build("plugin", f"{path}.options.plugins[{i}]", item,
                                     registry.plugin_factory)
                              for i, item in enumerate(items)]
    return options


def _construct(path: str, factory: Callable[..., Any], options: Mapping) -> Any:
    """``factory(**options)``, its errors given the entry's path."""
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        _reraise(f"{path}.options", options, exc)
    except ImportError as exc:  # a factory that needs an extra (otel_trace: opentelemetry)
        raise ImportError(f"{path}: {exc}", name=exc.name, path=exc.path) from exc
    except OSError as exc:  # a file or socket that cannot be opened: which entry, which option
        raise _os_error(f"{_os_option(path, options, exc)}: {exc}", exc) from exc


def _entries(path: str, value: Any) -> list:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(f"{path}: must be a list of {{\"name\": ..., \"options\": {{...}}}}, "
                        f"got {type_name(value)}")
    return list(value)


#: Built-in plugins whose data and message hooks add nothing ``redact`` must see: it
#: checks sprintf's formatted text itself, and trace IDs are no secret.
_REDACT_SAFE = frozenset({"redact", "sprintf", "otel_trace", "filter", "sampling.fixed_rate",
                          "sampling.per_level", "sampling.burst"})


def _warn_after_redact(items: list, plugins: list) -> None:
    """Warn about a plugin listed after ``redact`` that adds data or rewrites messages:
    hooks run in plugin order, so ``redact`` never sees what it writes."""
    from .plugins._redact import _Redact

    first = next((index for index, plugin in enumerate(plugins)
                  if isinstance(plugin, _Redact)), None)
    if first is None:
        return
    for index in range(first + 1, len(plugins)):
        name = items[index]["name"]
        hooks = [hook for hook in ("on_before_data_out", "on_before_message_out")
                 if getattr(plugins[index], hook, None) is not None]
        if hooks and name not in _REDACT_SAFE:
            warnings.warn(f"plugins[{index}] ({name!r}) has {' and '.join(hooks)} and comes "
                          f"after plugins[{first}] (redact), which does not see what it "
                          f"writes; list redact after it", UserWarning, stacklevel=3)


def _check_depth(config: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the path of a mapping or list nested more than
    ``_MAX_DEPTH`` levels deep in ``config``. Iterative, so it cannot overflow itself."""
    stack: list[tuple[Any, str, int]] = [(config, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > _MAX_DEPTH:
            head = path if len(path) <= 60 else path[:60] + "..."
            raise ValueError(f"{head}: nested more than {_MAX_DEPTH} levels deep (does a "
                             f"mapping or list contain itself?)")
        if isinstance(value, Mapping):
            items: Any = value.items()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            continue
        for key, item in items:
            if isinstance(item, (Mapping, list, tuple)):
                where = f"{path}[{key}]" if isinstance(key, int) else (
                    f"{path}.{key}" if path else str(key))
                stack.append((item, where, depth + 1))


def _close_all(transports: list) -> None:
    """Undo a half-built configuration: close what was built, ignoring close errors."""
    for transport in transports:
        close = getattr(transport, "close", None)
        if callable(close):
            # a close error is dropped: the original error is the one worth reporting
            with contextlib.suppress(Exception):
                close()


def from_config(config: Mapping[str, Any]) -> LogLayer:
    """A new ``LogLayer`` described by plain data (see the module docs for the shape).

    Raises ``ValueError`` (unknown key or name, bad value, mappings or lists nested more
    than 100 levels deep) or ``TypeError`` (wrong type) whose message starts with the
    path of the offending key, ``ImportError`` when a named plugin or transport is
    installed but fails to load, and an ``OSError`` of the original's type (its
    ``__cause__``) with the path in front when a transport cannot open its file or
    socket.
    """
    check_type("config", config, Mapping, "a mapping")
    _check_depth(config)
    for key in config:
        if key not in _TOP_KEYS:
            raise ValueError(f"{key}: unknown key; expected one of: {', '.join(_TOP_KEYS)}")
    kwargs = {key: _SIMPLE_KEYS[key](key, value)
              for key, value in config.items() if key in _SIMPLE_KEYS}
    plugin_items = _entries("plugins", config.get("plugins", ()))
    kwargs["plugins"] = [_build("plugin", f"plugins[{i}]", item, registry.plugin_factory)
                         for i, item in enumerate(plugin_items)]
    _warn_after_redact(plugin_items, kwargs["plugins"])
    if "transports" not in config:
        return LogLayer(**kwargs)
    transport_items = _entries("transports", config["transports"])
    if not transport_items:
        raise ValueError("transports: must not be empty; omit it for the default console "
                         "transport")
    built: list = []
    try:
        for i, item in enumerate(transport_items):
            built.append(_build("transport", f"transports[{i}]", item,
                                registry.transport_factory))
        return LogLayer(transports=built, **kwargs)
    except BaseException:
        _close_all(built)
        raise


def _read_toml(data: bytes) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError("reading a TOML config on Python 3.10 needs the 'tomli' "
                              "package: pip install tomli") from None
    return tomllib.loads(data.decode("utf-8"))


_READERS: dict[str, Callable[[bytes], Any]] = {
    ".toml": _read_toml,
    ".json": json.loads,
}


def load_config(path: str | os.PathLike[str]) -> LogLayer:
    """A new ``LogLayer`` from a TOML or JSON file, chosen by the file's suffix.

    The document's root is the mapping ``from_config`` takes. Errors are those of
    ``from_config``, with the file's path in front; a file that does not parse (or
    nests too deeply to parse) raises ``ValueError`` naming the file.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise ValueError(f"{path}: unsupported config format {suffix or '(no suffix)'!r}; "
                         f"use one of: {', '.join(_READERS)}")
    with open(path, "rb") as file:
        data = file.read()
    try:
        config = reader(data)
    except ValueError as exc:  # TOMLDecodeError, JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from exc
    except RecursionError:  # the parsers recurse once per level of nesting
        raise ValueError(f"{path}: not valid {suffix[1:].upper()}: nested too deeply to "
                         f"read (a configuration nests at most {_MAX_DEPTH} levels)") from None
    try:
        return from_config(config)
    except (TypeError, ValueError, ImportError) as exc:
        raise _with_path(f"{path}: {exc}", exc) from exc
    except OSError as exc:
        raise _os_error(f"{path}: {exc}", exc) from exc


# ``LogLayer.from_config`` is this function: the kernels import no configuration, so
# the assembly tells them.
on_kernel(lambda kernel: kernel._set_config_builder(from_config))
