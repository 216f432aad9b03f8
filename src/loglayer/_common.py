"""Cold-path helpers shared by both cores: validation, IDs, error reporting, ``lazy``,
re-entrant log calls.

Nothing here runs on the emission hot path except when something failed, so both
the compiled core and its pure twin call these same functions, and report every
problem with the same words.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from types import BuiltinFunctionType, CodeType, FrameType, FunctionType, MethodType
from typing import Any

from ._errorfmt import serialize_error
from .errors import PluginError, TransportError
from .levels import LogLevel
from .plugin import HOOK_NAMES

next_id = itertools.count(1).__next__

#: The fields bound with ``bind_contextvars``: a dict, or None when nothing is bound.
context_fields: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "loglayer_context_fields", default=None)

# Each core registers a function here that turns its context-field lookup on. Until
# something is bound once, emission does not look the variable up at all.
_context_switches: list = []
_context_enabled = False


def on_context_fields_enabled(switch) -> None:
    """Register a core's switch; it is called at once if fields were bound already."""
    _context_switches.append(switch)
    if _context_enabled:
        switch()


def enable_context_fields() -> None:
    """Called on the first bind: from now on, emission merges the context's fields."""
    global _context_enabled
    if not _context_enabled:
        _context_enabled = True
        for switch in _context_switches:
            switch()


# -- what the assembly layer wires into each kernel ----------------------------------
#
# The assembly (the default transport, ``from_config``, the taps) configures the
# kernels, which import nothing above them. The pure twin is imported only when
# something needs it (it is the live kernel, or the pure renderers' reference code
# runs), possibly long after the assembly has loaded; so the assembly registers a
# setup here, and each kernel announces itself at the end of its import.

_kernels: list = []
_kernel_setups: list = []
_kernel_lock = threading.RLock()


def kernel_loaded(kernel) -> None:
    """Called by each kernel module as its import ends: run every setup on it."""
    with _kernel_lock:
        _kernels.append(kernel)
        setups = list(_kernel_setups)
    for setup in setups:
        setup(kernel)


def on_kernel(setup) -> None:
    """Run ``setup(kernel)`` on every kernel loaded so far, and on each one loaded later."""
    with _kernel_lock:
        _kernel_setups.append(setup)
        kernels = list(_kernels)
    for kernel in kernels:
        setup(kernel)


def loaded_kernels() -> tuple:
    """The kernel modules imported so far: the live one, and the pure twin once loaded."""
    with _kernel_lock:
        return tuple(_kernels)


# Characters that could end or forge a line of text, or drive a terminal: C0 controls,
# DEL, the C1 controls (U+0085 ends a line for ``str.splitlines``, U+009B is an 8-bit CSI
# for some terminals), the two Unicode line separators, and lone surrogates (which a
# UTF-8 stream refuses to encode, losing the whole line).
_CONTROL_CODES = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0xD800, 0xE000)]
#: The characters :func:`escape_text` escapes.
CONTROL = frozenset([chr(code) for code in _CONTROL_CODES])
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
            for code in _CONTROL_CODES}
_ESCAPES[ord("\n")] = "\\n"
_ESCAPES[ord("\r")] = "\\r"
_ESCAPES[ord("\t")] = "\\t"


def escape_text(text: str) -> str:
    """``text`` with the :data:`CONTROL` characters escaped (``\\n``, ``\\r``, ``\\t``,
    ``\\xNN``, ``\\uNNNN``; a lone surrogate as ``\\udcNN``, as JSON output writes it), so
    it stays on one line, cannot drive a terminal and always encodes as UTF-8."""
    if text.isprintable() or CONTROL.isdisjoint(text):
        return text
    return text.translate(_ESCAPES)


def stderr_line(line: str) -> None:
    """Write one diagnostic line to ``sys.stderr`` as it is now; never raise.

    The line is escaped like a console log line: the exception texts it quotes are
    not ours, and a newline or an escape sequence in one must not reach the terminal.
    """
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write("loglayer: " + escape_text(line) + "\n")
    except Exception:
        pass


# -- log calls made while an entry is dispatched on the same thread (SPEC §4) ---------
#
# A hook or transport that logs while its thread dispatches an entry must not recurse:
# that entry is dropped (one line on stderr). A Python signal handler that logs while
# the main thread is mid-emission is another matter: the handler interrupted the
# dispatch, it is not part of it, and dropping its entry (every time, for a handler
# that logs "shutting down") loses exactly the line that matters. The kernels tell
# the two apart with from_signal_handler() and defer the handler's entry: it is
# dispatched right after the interrupted emission returns, on the same thread.
#
# How it tells them apart, and where it cannot: Python runs signal handlers only on
# the main thread, as calls the interpreter makes between two bytecodes of whatever
# ran; the handler is whatever signal.getsignal() returns. So a log call from the main
# thread that has the code of a currently installed handler on its stack comes from a
# signal handler. Not recognised (the entry is dropped, and counted): a handler with no
# Python frame of its own (written in C, or a builtin that calls back into Python).
# Taken for a handler (the entry is deferred once, not dropped): a hook or transport
# that logs while dispatching an entry a handler itself logged, and a function that is
# a handler and is also called by a hook. Entries logged while deferred entries are
# being dispatched are always dropped, so a hook taken for a handler cannot loop.

_reentry_lock = threading.RLock()  # re-entrant: a signal handler may count meanwhile
_reentry_counts = {"dropped": 0, "deferred": 0}

#: At most this many entries wait for one emission to finish; more are dropped.
MAX_DEFERRED = 64


def count_reentry(outcome: str) -> None:
    """Count one log call made during a dispatch: ``"dropped"`` or ``"deferred"``."""
    with _reentry_lock:
        _reentry_counts[outcome] += 1


def reentry_stats() -> dict[str, int]:
    """How many log calls made while their thread dispatched an entry were dropped
    (a hook or transport logged; SPEC §4) or deferred (a signal handler logged), in
    this process, by either core."""
    with _reentry_lock:
        return dict(_reentry_counts)


def dropped_reentrant_entry() -> None:
    """Report and count a log call dropped because its thread was dispatching."""
    count_reentry("dropped")
    stderr_line("a log call made while an entry was being dispatched on the same thread "
                "was dropped (a hook or transport logged)")


def _code_of(handler: Any) -> CodeType | None:
    """The code object a call of ``handler`` runs first, when it is Python code."""
    for _ in range(8):  # bound methods, partials, callable objects, nested a little
        if isinstance(handler, functools.partial):
            handler = handler.func
            continue
        code = getattr(handler, "__code__", None)
        if isinstance(code, CodeType):
            return code
        func = getattr(handler, "__func__", None)  # a bound method
        if func is not None:
            handler = func
            continue
        # an instance of a class whose __call__ is a Python function
        call = next((vars(cls)["__call__"] for cls in type(handler).__mro__
                     if "__call__" in vars(cls)), None)
        if not isinstance(call, FunctionType):
            return None
        handler = call
    return None


def _handler_codes() -> set[CodeType]:
    """The code of every Python signal handler installed now."""
    codes = set()
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):  # pragma: no cover - signals the platform lists
            continue
        if handler is None or isinstance(handler, (int, signal.Handlers)):
            continue
        code = _code_of(handler)
        if code is not None:
            codes.add(code)
    return codes


def from_signal_handler() -> bool:
    """Whether the code that called the kernel runs inside a Python signal handler
    (see the comment above); never raises."""
    try:
        if threading.get_ident() != threading.main_thread().ident:
            return False  # only the main thread runs signal handlers
        codes = _handler_codes()
        if not codes:
            return False
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code in codes:
                return True
            frame = frame.f_back
    except Exception:  # pragma: no cover - defensive: a handler we cannot inspect
        pass
    return False


def describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "<str() failed>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def plugin_failed(hook: str, pid: str, on_error, exc: BaseException, what: str = "") -> None:
    """Report a hook's exception as a PluginError, to ``on_error`` or stderr."""
    detail = what or describe(exc)
    err = PluginError(pid, hook, f"plugin {pid!r} failed in {hook}: {detail}")
    err.__cause__ = exc
    if on_error is not None:
        try:
            on_error(err)
            return
        except Exception as handler_exc:
            stderr_line(f"plugin {pid!r} on_error raised {describe(handler_exc)}")
    stderr_line(f"plugin {pid!r} hook {hook} failed: {detail}")


def not_a_mapping(result) -> TypeError:
    """The failure of a hook whose answer should have been a mapping (or None)."""
    return TypeError(f"returned {type(result).__name__}, not a mapping")


def not_a_list(result) -> TypeError:
    """The failure of a message hook whose answer was not a list (or None)."""
    return TypeError(f"returned {type(result).__name__}, not a list")


def transport_failed(handler, tid: str, exc: BaseException) -> None:
    err = TransportError(tid, f"transport {tid!r} failed: {describe(exc)}")
    err.__cause__ = exc
    if handler is not None:
        try:
            handler(err)
            return
        except Exception as handler_exc:
            stderr_line(f"on_transport_error raised {describe(handler_exc)}")
    stderr_line(f"transport {tid!r} failed: {describe(exc)}")


def min_level_of(value) -> int:
    """A transport's ``level`` attribute as a number; 0 (no minimum) when unusable
    (not a level, or an object whose comparison or text fails)."""
    if value is None:
        return 0
    try:
        return int(LogLevel.parse(value))
    except Exception:
        return 0


def is_mapping(value) -> bool:
    """Whether ``value``'s type is a ``Mapping``. Asked of the type, never the object:
    ``isinstance`` would read the object's own ``__class__``, which a hostile
    ``__getattribute__`` makes raise (and a hook's answer must not raise out of the
    dispatch)."""
    cls = type(value)
    if cls is dict:
        return True
    try:
        return issubclass(cls, Mapping)
    except Exception:
        return False


class lazy:
    """A field value computed at each emission that passes the level filter.

    ``fn`` is called before any dispatch hook runs and never for a filtered entry.
    If it raises, the value becomes ``"[LazyEvalError]"`` and the entry is still sent.
    """

    __slots__ = ("fn",)

    fn: Callable[[], object]

    def __init__(self, fn: Callable[[], object]) -> None:
        if not callable(fn):
            raise TypeError(f"lazy() needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def __repr__(self) -> str:
        return f"lazy({self.fn!r})"


def resolve_lazy(fields: dict) -> dict:
    out = {}
    for key, value in fields.items():
        if type(value) is lazy:
            try:
                value = value.fn()
            except Exception:
                value = "[LazyEvalError]"
        out[key] = value
    return out


def has_lazy(fields: Mapping) -> bool:
    for value in fields.values():  # noqa: SIM110 - emission path: any() costs a generator
        if type(value) is lazy:
            return True
    return False


class PluginRecord:
    """A plugin with its hooks looked up once, when it was added.

    ``on_error``, when given, receives the hooks' failures instead of the plugin's own
    ``on_error`` (a served plugin returns them to its host).
    """

    __slots__ = ("plugin", "id", "on_error", "hooks")

    def __init__(self, plugin, on_error=None) -> None:
        if plugin is None or isinstance(plugin, type) or _named_plugin(plugin):
            raise not_a_plugin(plugin)
        pid = getattr(plugin, "id", None)
        hooks = {}
        for name in HOOK_NAMES:
            fn = getattr(plugin, name, None)
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"plugin {pid!r}: {name} must be callable, "
                                f"got {type(fn).__name__}")
            hooks[name] = fn
        if not hooks and isinstance(plugin, _FUNCTIONS):
            raise not_a_plugin(plugin)  # a hook function given as a plugin
        if pid is None or pid == "":
            pid = f"plugin-{next_id()}"
            try:
                plugin.id = pid
            except Exception:
                raise not_a_plugin(plugin, ", which has no id and cannot be given one"
                                   ) from None
        elif not isinstance(pid, str):
            raise TypeError(f"plugin id must be a str, got {type(pid).__name__}")
        if on_error is None:
            on_error = getattr(plugin, "on_error", None)
        self.plugin = plugin
        self.id = pid
        self.on_error = on_error if callable(on_error) else None
        self.hooks = hooks


def transport_slot(transport, where: str = "") -> tuple:
    """(transport, id, bound send), validated; an empty id is generated. ``where`` names
    the call the transport was given to (``"add_transport()"``), for the message."""
    send = None if transport is None or _named(transport) else getattr(transport, "send", None)
    if not callable(send):
        raise not_a_transport(f"{where} takes transports (objects with a send(entry) "
                              f"method)" if where else "a transport must be an object "
                              "with a send(entry) method",
                              transport)
    tid = getattr(transport, "id", None)
    if tid is None or tid == "":
        tid = f"transport-{next_id()}"
        try:
            transport.id = tid
        except Exception as exc:
            raise TypeError(
                f"transport {transport!r} has no id and one could not be assigned: {exc}"
            ) from None
    elif not isinstance(tid, str):
        raise TypeError(f"transport id must be a str, got {type(tid).__name__}")
    return (transport, tid, send)


def plugin_list(plugins) -> list:
    """``plugins`` as a list: any iterable of plugins, but not a lone str or bytes."""
    if isinstance(plugins, (str, bytes)) or not hasattr(plugins, "__iter__"):
        raise TypeError(f"plugins must be a sequence of plugins, got {type(plugins).__name__}")
    return list(plugins)


#: What a message about a transport given by name adds.
_BY_NAME = ("; transports are objects such as loglayer.ConsoleTransport(); to build them "
            "by name, use loglayer.from_config({'transports': [{'name': 'console'}]})")


def _named(value) -> bool:
    """Whether ``value`` is a name or a config entry given where a transport goes."""
    return isinstance(value, (str, bytes)) or (isinstance(value, Mapping)
                                               and not hasattr(value, "send"))


def _shown(value) -> str:
    """``value`` in a message: its type and, for a str or bytes, the value."""
    if isinstance(value, (str, bytes)):
        return f"the {type(value).__name__} {value!r}"
    return f"a {type(value).__name__}"


#: What a transport is, in messages.
_TRANSPORT = "a transport (an object with a send(entry) method)"

#: What a plugin is, in messages.
_PLUGIN = ("a plugin is an object with an id (a str; an empty one is generated) and any of "
           f"the hook methods {', '.join(HOOK_NAMES)}: subclass loglayer.Plugin, or make "
           "one from a function with loglayer.data_hook('my-id', fn) (or fields_hook, "
           "metadata_hook, message_hook, level_hook, send_gate)")

#: Functions and other plain callables, which a plugin is not (its hooks are methods).
_FUNCTIONS = (FunctionType, BuiltinFunctionType, MethodType, functools.partial)


def _named_plugin(value) -> bool:
    """Whether ``value`` is a name or a config entry given where a plugin goes."""
    return isinstance(value, (str, bytes)) or (isinstance(value, Mapping) and not any(
        hasattr(value, name) for name in HOOK_NAMES))


def _got(value) -> str:
    """``value`` in a message: None, a str or bytes with its value, a function or class
    by name, anything else by its type's name."""
    if value is None:
        return "None"
    if isinstance(value, (str, bytes)):
        return f"the {type(value).__name__} {value!r}"
    if isinstance(value, type):
        return f"the class {value.__name__}"
    if isinstance(value, _FUNCTIONS):
        return f"the function {getattr(value, '__name__', type(value).__name__)}"
    return type(value).__name__


def not_a_transport(expected: str, value) -> TypeError:
    """The error for ``value`` given where ``expected`` (which says what a transport is)
    was; a name or config entry also gets how to build transports by name."""
    return TypeError(f"{expected}, got {_got(value)}{_BY_NAME if _named(value) else ''}")


def not_a_plugin(value, why: str = "") -> TypeError:
    """The error for ``value`` given as a plugin: what a plugin is, and what to do
    instead with a name, a function or a class."""
    message = f"{_PLUGIN}; got {_got(value)}{why}"
    if _named_plugin(value):
        message += ("; to build a plugin by name, use "
                    "loglayer.registry.get_plugin(name, **options)")
    elif isinstance(value, type):
        message += f"; pass an instance, {value.__name__}(...), not the class"
    return TypeError(message)


def keywords_refused(method: str, names) -> TypeError:
    """The error for keyword arguments given to a level method (``log.info("x", a=1)``):
    where such values go instead."""
    names = [str(name) for name in names]
    return TypeError(
        f"{method}() takes messages only, not keyword arguments "
        f"({', '.join(name + '=' for name in names)}): for this entry, use "
        f"log.with_metadata({{{', '.join(repr(name) + ': ...' for name in names)}}})"
        f".{method}(...); for every entry of a logger, "
        f"log.with_fields({', '.join(name + '=...' for name in names)})")


def transport_list(name: str, transports) -> list:
    """One transport or a non-empty sequence of them, as a list; each is checked to have
    a ``send`` method, and a message names the argument (and the item) that does not."""
    if _named(transports):  # iterating it would give characters or config keys
        raise TypeError(f"{name} must be a transport or a sequence of transports, got "
                        f"{_shown(transports)}{_BY_NAME}")
    if hasattr(transports, "send"):
        return [transports]
    if transports is None or not hasattr(transports, "__iter__"):
        raise not_a_transport(f"{name} must be {_TRANSPORT} or a sequence of transports",
                              transports)
    items = list(transports)
    if not items:
        raise ValueError(f"{name} must be a transport or a non-empty sequence of them")
    for index, item in enumerate(items):
        if item is None or _named(item) or not callable(getattr(item, "send", None)):
            raise not_a_transport(f"{name}[{index}] must be {_TRANSPORT}", item)
    return items


def text_of(obj) -> str:
    """``str(obj)`` as a plain str; ``<unprintable TypeName>`` when ``str()`` raises."""
    try:
        text = str(obj)
    except Exception:
        return f"<unprintable {type(obj).__name__}>"
    return text if type(text) is str else str.__str__(text)


def as_message_list(messages) -> list:
    if isinstance(messages, (list, tuple)):
        return list(messages)
    if isinstance(messages, (str, bytes)) or not hasattr(messages, "__iter__"):
        return [messages]
    return list(messages)


def serialize_error_safely(serializer, error):
    """The error as data, by the configured serializer or the default; never raises."""
    try:
        if serializer is None:
            return serialize_error(error)
        return serializer(error)
    except Exception as exc:
        return {"type": type(error).__name__,
                "message": f"[error_serializer failed: {describe(exc)}]"}


def merge_by_id(current: tuple, new_items, id_of) -> tuple:
    """``current`` plus ``new_items``; an item whose ID is present replaces it in place."""
    items = list(current)
    for item in new_items:
        item_id = id_of(item)
        for i, old in enumerate(items):
            if id_of(old) == item_id:
                items[i] = item
                break
        else:
            items.append(item)
    return tuple(items)
