"""Fast, never-raising rendering of exceptions for log entries.

When a log entry carries an exception, the logging core turns it into plain data with
:func:`serialize_error`::

    {"type": "pkg.mod.MyError", "message": "...", "traceback": "...", "cause": {...}}

and the console renderer prints :func:`format_traceback`, the same text Python itself
prints for an uncaught exception.

Why not just call :func:`traceback.format_exception`?  It costs tens of microseconds per
exception: it builds a ``TracebackException`` with ``FrameSummary`` objects, stats every
source file (``linecache.checkcache``), and on 3.11+ parses source lines to draw the
``~~~^^^`` caret annotations.  Loggers often report the same failure over and over (a
retry loop, a dead dependency), so this module walks ``tb.tb_next`` itself and caches the
rendered two-line text of each frame per code location (code object and instruction
offset, see ``_frame_cache``); a repeated exception from the same code locations then
costs a few dict lookups and one join.

The text matches ``traceback.format_exception(type(e), e, e.__traceback__)`` except that:

* the 3.11+ caret lines are never drawn;
* on 3.13, an instruction spanning several source lines shows only its first line
  (3.10-3.12 behave like that too);
* source lines are cached per location, so a source file edited while the process runs
  keeps showing the old line for locations already rendered (the cache is bounded and
  cleared when full);
* ``sys.tracebacklimit`` is ignored;
* a chain of causes/contexts is cut after :data:`MAX_CHAIN_DEPTH` links;
* an exception whose ``str()`` fails shows ``<exception str() failed: ErrorType>``.

``SyntaxError`` keeps its special "where is the error" lines (taken from
:func:`traceback.format_exception_only`), and :func:`format_traceback` hands chains that
contain an exception group to the standard library so the sub-exceptions are shown;
:func:`serialize_error` renders a group as its ``str()``.

Nothing here raises for any ``BaseException`` instance, however broken its ``__str__``,
``args`` or chain attributes are.  The caches are plain dicts used without locks: under
the GIL every single operation is atomic, and a race can at worst render a frame twice.
"""

from __future__ import annotations

import contextlib
import linecache
import sys
import traceback
from collections.abc import Sequence
from types import CodeType, FrameType, TracebackType
from typing import Any

__all__ = ["serialize_error", "format_traceback"]

#: How many ``cause`` links are followed below the logged exception.
MAX_CHAIN_DEPTH = 8

#: The frame-text cache is cleared when it grows beyond this many entries.
_FRAME_CACHE_MAX = 4096
#: The type-name cache is cleared when it grows beyond this many entries.
_TYPE_CACHE_MAX = 1024

#: Consecutive identical frames shown before "[Previous line repeated ...]" (as stdlib).
_RECURSIVE_CUTOFF = 3

_HEADER = "Traceback (most recent call last):\n"
_CAUSE_MESSAGE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT_MESSAGE = "\nDuring handling of the above exception, another exception occurred:\n\n"
_TRUNCATED_MESSAGE = "[earlier chained exceptions omitted]\n\n"

_PY311 = sys.version_info >= (3, 11)
_PY313 = sys.version_info >= (3, 13)

# Kinds of exception types, cached with the type name.
_PLAIN = 0
_SYNTAX = 1  # SyntaxError and subclasses: stdlib renders the offending source line.
_GROUP = 2  # BaseExceptionGroup (3.11+): stdlib renders the sub-exceptions.

_GROUP_BASE: type | None
if sys.version_info >= (3, 11):  # spelled out, so type checkers see the version check
    _GROUP_BASE = BaseExceptionGroup  # noqa: F821 - builtin on 3.11+
else:  # pragma: no cover - 3.10
    _GROUP_BASE = None

# (id(code), tb_lasti) -> (code, rendered frame text).
#
# * Keyed on the id, not the code object: hashing a code object hashes its bytecode and
#   constants on every call (microseconds for a large function on 3.12+), and code
#   objects from different files can compare equal.  The value holds the code object,
#   which keeps the id from being reused while the entry exists; an entry only counts
#   when the stored object *is* the frame's code.
# * Keyed on the instruction offset, not the line: since 3.11 ``tb_lineno`` is computed
#   on first access by scanning the code's line table (several microseconds in a long
#   function), while ``tb_lasti`` is a plain field.  An offset maps to exactly one line,
#   so this only costs an entry per distinct call/raise instruction instead of per line.
#   (Only a hand-built ``types.TracebackType`` whose ``tb_lineno`` contradicts its
#   ``tb_lasti`` could be shown with the line cached for that offset.)
_frame_cache: dict[tuple[int, int], tuple[CodeType, str]] = {}

# exception type -> (qualified name, kind)
_type_cache: dict[type, tuple[str, int]] = {}


def serialize_error(exc: BaseException) -> dict[str, Any]:
    """Turn *exc* into ``{"type", "message"[, "traceback"][, "cause"]}``.

    ``traceback`` (present when the exception was raised) is the text Python prints for
    this exception alone; its chain is in ``cause``, a dict of the same shape built from
    ``__cause__``, or from ``__context__`` unless the context was suppressed
    (``raise ... from None``).  Chains are cut after :data:`MAX_CHAIN_DEPTH` links and
    cycles end where an exception repeats.  Never raises.
    """
    try:
        if exc.__cause__ is None and (exc.__suppress_context__ or exc.__context__ is None):
            return _serialize_one(exc)  # the common case: nothing chained
        chain = _chain(exc)
        result: dict[str, Any] | None = None
        for item in reversed(chain):
            entry = _serialize_one(item)
            if result is not None:
                entry["cause"] = result
            result = entry
        return result if result is not None else _minimal(exc)
    except Exception:
        return _minimal(exc)


def format_traceback(exc: BaseException) -> str:
    """Return the full text Python would print for *exc*, chained exceptions included.

    Like ``"".join(traceback.format_exception(exc))`` (ending in a newline) minus the
    differences listed in the module docstring.  Never raises.
    """
    try:
        chain = _chain(exc)
        if _GROUP_BASE is not None:
            for item in chain:
                if isinstance(item, _GROUP_BASE):
                    try:
                        return "".join(
                            traceback.format_exception(type(exc), exc, exc.__traceback__)
                        )
                    except Exception:
                        break  # fall back to our rendering, groups shown as their str()
        parts: list[str] = []
        if len(chain) > MAX_CHAIN_DEPTH and _is_truncated(chain):
            parts.append(_TRUNCATED_MESSAGE)
        for index in range(len(chain) - 1, -1, -1):
            item = chain[index]
            name, kind = _type_info(type(item))
            message = _safe_str(item)
            tb = item.__traceback__
            if tb is not None:
                parts.append(_format_frames(tb))
            parts.append(_final_lines(item, name, message, kind))
            if index:
                outer = chain[index - 1]
                parts.append(_CAUSE_MESSAGE if outer.__cause__ is item else _CONTEXT_MESSAGE)
        return "".join(parts)
    except Exception:
        try:
            return _final_line(_safe_type_name(exc), _safe_str(exc))
        except Exception:  # pragma: no cover - defensive
            return "<unprintable exception>\n"


# -- chain -----------------------------------------------------------------------------


def _next_in_chain(exc: BaseException) -> BaseException | None:
    """The exception Python would print before *exc*: its cause, else its context."""
    cause = exc.__cause__
    if cause is None and not exc.__suppress_context__:
        cause = exc.__context__
    return cause if isinstance(cause, BaseException) else None


def _is_truncated(chain: list[BaseException]) -> bool:
    """Whether the chain was cut by the depth cap (not merely ended by a cycle)."""
    try:
        nxt = _next_in_chain(chain[-1])
    except Exception:
        return False
    return nxt is not None and not any(nxt is item for item in chain)


def _chain(exc: BaseException) -> list[BaseException]:
    """*exc* followed by its causes/contexts, newest first, capped and cycle-free."""
    chain = [exc]
    try:
        nxt = _next_in_chain(exc)
        if nxt is None:
            return chain
        seen = {id(exc)}
        while nxt is not None and len(chain) <= MAX_CHAIN_DEPTH and id(nxt) not in seen:
            seen.add(id(nxt))
            chain.append(nxt)
            nxt = _next_in_chain(nxt)
    except Exception:
        pass  # a broken __cause__/__context__ property: keep what we have
    return chain


# -- one exception ---------------------------------------------------------------------


def _serialize_one(exc: BaseException) -> dict[str, Any]:
    try:
        name, kind = _type_info(type(exc))
        message = _safe_str(exc)
        entry: dict[str, Any] = {"type": name, "message": message}
        tb = exc.__traceback__
        if tb is not None:
            entry["traceback"] = _format_frames(tb) + _final_lines(exc, name, message, kind)
        return entry
    except Exception:
        return _minimal(exc)


def _minimal(exc: BaseException) -> dict[str, Any]:
    return {"type": _safe_type_name(exc), "message": _safe_str(exc)}


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
        if type(text) is str:
            return text
        return str.__str__(text)  # a str subclass: hand out a plain str
    except BaseException as err:  # like traceback._safe_string: str() must not escape
        return f"<exception str() failed: {_safe_type_name(err)}>"


def _safe_type_name(obj: object) -> str:
    try:
        return _type_info(type(obj))[0]
    except Exception:  # pragma: no cover - defensive
        return "<unknown>"


def _type_info(tp: type) -> tuple[str, int]:
    """``(qualified name, kind)`` of an exception type, cached."""
    try:
        return _type_cache[tp]
    except KeyError:
        pass
    except Exception:  # unhashable metaclass: compute without caching
        return _compute_type_info(tp)
    info = _compute_type_info(tp)
    if len(_type_cache) >= _TYPE_CACHE_MAX:
        _type_cache.clear()
    with contextlib.suppress(Exception):  # defensive: tp was hashed by the lookup above
        _type_cache[tp] = info
    return info


def _compute_type_info(tp: type) -> tuple[str, int]:
    # Same rule as traceback.format_exception_only: builtins and __main__ unqualified.
    try:
        qualname = tp.__qualname__
        if not isinstance(qualname, str):
            qualname = str(qualname)
    except Exception:
        qualname = getattr(tp, "__name__", "<unknown>")
    try:
        module = tp.__module__
    except Exception:
        module = None
    if module not in ("__main__", "builtins"):
        if not isinstance(module, str):
            module = "<unknown>"
        qualname = module + "." + qualname
    kind = _PLAIN
    try:
        if issubclass(tp, SyntaxError):
            kind = _SYNTAX
        elif _GROUP_BASE is not None and issubclass(tp, _GROUP_BASE):
            kind = _GROUP
    except Exception:  # pragma: no cover - defensive
        pass
    return qualname, kind


# -- text ------------------------------------------------------------------------------


def _format_frames(tb: TracebackType | None) -> str:
    """``Traceback (most recent call last):`` and one cached entry per frame."""
    get = _frame_cache.get
    parts = [_HEADER]
    append = parts.append
    last: str | None = None
    count = 0
    while tb is not None:
        code = tb.tb_frame.f_code
        key = (id(code), tb.tb_lasti)
        entry = get(key)
        if entry is None or entry[0] is not code:
            entry = _cache_frame(tb, code, key)
        text = entry[1]
        tb = tb.tb_next
        # Collapse runs of the same location like StackSummary.format (deep recursion).
        if text == last:
            count += 1
            if count > _RECURSIVE_CUTOFF:
                continue
        else:
            if count > _RECURSIVE_CUTOFF:
                append(_repeated(count - _RECURSIVE_CUTOFF))
            last = text
            count = 1
        append(text)
    if count > _RECURSIVE_CUTOFF:
        append(_repeated(count - _RECURSIVE_CUTOFF))
    return "".join(parts)


def _cache_frame(tb: TracebackType, code: CodeType, key: tuple[int, int]) -> tuple[CodeType, str]:
    entry = (code, _render_frame(code, tb.tb_lineno, tb.tb_frame))
    if len(_frame_cache) >= _FRAME_CACHE_MAX:
        _frame_cache.clear()
    _frame_cache[key] = entry
    return entry


def _repeated(count: int) -> str:
    return f"  [Previous line repeated {count} more time{'s' if count > 1 else ''}]\n"


def _render_frame(code: CodeType, lineno: Any, frame: FrameType) -> str:
    filename = code.co_filename
    shown = filename
    if _PY313 and shown.startswith("<stdin>-"):
        shown = "<stdin>"
    text = f'  File "{shown}", line {lineno}, in {code.co_name}\n'
    line = _source_line(filename, lineno, frame)
    if line:
        text += f"    {line}\n"
    return text


def _source_line(filename: str, lineno: Any, frame: FrameType) -> str:
    if lineno is None:
        return ""
    try:
        # As StackSummary.extract: let loaders supply source (zip imports), and drop
        # stale cached file contents before reading.
        linecache.lazycache(filename, frame.f_globals)
        linecache.checkcache(filename)
        return linecache.getline(filename, lineno).strip()
    except Exception:
        return ""


def _final_line(name: str, message: str) -> str:
    return f"{name}: {message}\n" if message else f"{name}\n"


def _final_lines(exc: BaseException, name: str, message: str, kind: int) -> str:
    """The ``Type: message`` line (plus notes), as traceback.format_exception_only."""
    if kind == _SYNTAX:
        try:
            return "".join(traceback.format_exception_only(type(exc), exc))
        except Exception:
            pass
    text = _final_line(name, message)
    if _PY311:
        try:
            notes = getattr(exc, "__notes__", None)
        except Exception:
            notes = None
        if notes is not None:
            text += _format_notes(notes)
    return text


def _format_notes(notes: object) -> str:
    if isinstance(notes, Sequence) and not isinstance(notes, (str, bytes)):
        lines: list[str] = []
        for note in notes:
            try:
                note_text = str(note)
            except BaseException:
                note_text = "<note str() failed>"
            lines.extend(line + "\n" for line in note_text.split("\n"))
        return "".join(lines)
    try:
        return repr(notes) + "\n"
    except BaseException:
        return "<__notes__ repr() failed>\n"
