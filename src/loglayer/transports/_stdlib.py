"""A transport that hands each entry to a ``logging.Logger``: loglayer into the
stdlib's handlers. ``loglayer.stdlib`` has the other direction and re-exports this."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from .._common import text_of
from .._select import Transport
from .._validate import LOGGER_FIELD
from ..levels import LogLevel
from ..typing import LevelLike
from ..utils import to_map

__all__ = ["StdlibTransport"]

#: The attributes every LogRecord has, plus those a Formatter adds. Anything else on
#: a record came from ``extra=`` (or a filter) and is the caller's data.
RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime"}

#: The keys under which StdlibTransport always puts an entry's data and metadata. A
#: record carrying ``loglayer_data`` came out of loglayer.
DATA_KEY = "loglayer_data"
METADATA_KEY = "loglayer_metadata"
RESERVED_KEYS = RECORD_KEYS | {DATA_KEY, METADATA_KEY}

# Set while a StdlibTransport hands a record to ``logging`` on this thread.
bridge_state = threading.local()


class StdlibTransport(Transport):
    """A loglayer transport that hands each entry to a ``logging.Logger``.

    ``logger`` is the target: a ``logging.Logger``, a logger name, or None for the
    root logger as it is at construction. Each entry becomes one ``LogRecord`` handled
    by that logger (its level, filters, handlers and ``propagate`` apply as usual):

    * the level keeps its number (``WARN`` is ``WARNING``, ``FATAL`` is ``CRITICAL``,
      ``TRACE`` is 5 and named ``"TRACE"``);
    * the message is the prefix and the messages joined by one space, with no
      ``%``-formatting left to do;
    * ``extra`` carries the entry's data (fields and the serialized error) as
      ``loglayer_data`` and its metadata as ``loglayer_metadata`` (a dict when it is
      record-like, see ``loglayer.utils.to_map``, else the object itself). The keys of
      both are also set directly on the record (data first, then metadata, or the
      metadata under the entry's ``metadata_key`` when there is one), except those
      that would clash with a LogRecord attribute (``name``, ``msg``, ``message``...):
      a format string can say ``%(user)s`` and a JSON formatter sees the fields;
    * ``entry.error`` becomes ``exc_info``, so handlers print the traceback; when a
      hook changed the serialized error in the data (redact censored it), the record
      gets no ``exc_info`` but that error's traceback text as ``exc_text``, which a
      ``Formatter`` prints the same way;
    * the record's ``pathname``, ``lineno`` and ``funcName`` are the place of the log
      call (the first frame outside loglayer and ``logging``), so ``caplog`` and
      formatters show where it was; an entry sent from another thread (a
      ``QueueTransport``'s worker) has no such place and says ``"(unknown file)"``;
    * the record's ``name`` is the emitting logger's: the field ``logger`` when the
      entry has one (the stdlib facade and ``LogLayerHandler`` set it), else the
      target's name;
    * a stdlib level that is not a loglayer level (25, say), carried by the entry as
      the fields ``levelno``/``levelname``, is the record's level again.
    """

    def __init__(self, logger: logging.Logger | str | None = None, *, id: str = "",
                 level: LevelLike | None = None, enabled: bool = True) -> None:
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger)
        elif not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger, a logger name or None, "
                            f"got {type(logger).__name__}")
        super().__init__(id, level=level, enabled=enabled)
        self._logger = logger

    def get_logger_instance(self) -> logging.Logger:
        """The target ``logging.Logger``."""
        return self._logger

    def send(self, entry: Any) -> None:
        target = self._logger
        levelno = int(entry.level)
        fields = entry.fields
        name = target.name
        if fields:
            name, levelno = _name_and_level(fields, name, levelno)
        if not target.isEnabledFor(levelno):
            return
        error = entry.error
        exc_info = exc_text = None
        if error is not None:
            exc_info, exc_text = _exception_of(entry, error)
        # the pure renderer's text rules, imported on first use: not with loglayer
        from .. import _render_py as pure

        pathname, lineno, function = _call_site()
        record = target.makeRecord(name, levelno, pathname, lineno,
                                   pure._message_text(entry.messages, entry.prefix), (), exc_info,
                                   function, _record_extra(entry), None)
        if exc_text is not None:
            record.exc_text = exc_text
        if levelno == LogLevel.TRACE and record.levelname.startswith("Level "):
            record.levelname = "TRACE"  # no name registered for it
        previous = getattr(bridge_state, "sending", False)
        bridge_state.sending = True
        try:
            target.handle(record)
        finally:
            bridge_state.sending = previous

    def flush(self) -> None:
        """Flush the handlers the target's records reach."""
        logger: logging.Logger | None = self._logger
        while logger is not None:
            for handler in logger.handlers:
                handler.flush()
            logger = logger.parent if logger.propagate else None


#: The directory of the loglayer package: frames of files under it are loglayer's own.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOGGING_FILE = os.path.normcase(logging.Logger.makeRecord.__code__.co_filename)
_THREADING_FILE = os.path.normcase(threading.Thread.run.__code__.co_filename)
_UNKNOWN = ("(unknown file)", 0, "(unknown function)")


def _call_site() -> tuple[str, int, str]:
    """The file, line and function of the log call this entry came from.

    The first frame, going up from here, that belongs neither to loglayer nor to
    ``logging``: the compiled core leaves no frames of its own, the pure one's are
    under the package. A thread's entry point (a queue worker) means there is none.
    """
    try:
        frame = sys._getframe(2)
    except ValueError:
        return _UNKNOWN
    while frame is not None:
        filename = frame.f_code.co_filename
        normal = os.path.normcase(filename)
        if not normal.startswith(_PACKAGE_DIR) and normal != _LOGGING_FILE:
            if normal == _THREADING_FILE:
                return _UNKNOWN
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return _UNKNOWN


def _name_and_level(fields: Any, name: str, levelno: int) -> tuple[str, int]:
    """The record's logger name and level from the entry's fields (see StdlibTransport)."""
    try:
        logger = fields.get(LOGGER_FIELD)
        number = fields.get("levelno")
    except Exception:  # fields that cannot be read: the defaults
        return name, levelno
    if type(logger) is str and logger:
        name = logger
    if type(number) is int and _loglayer_number(number) == levelno:
        levelno = number  # only while no plugin changed the level since
    return name, levelno


def _loglayer_number(levelno: int) -> int:
    """The loglayer level (as a number) a stdlib level number maps down to."""
    for level in (50, 40, 30, 20, 10):
        if levelno >= level:
            return level
    return 5


def _exception_of(entry: Any, error: BaseException) -> tuple[Any, str | None]:
    """The record's ``exc_info``, or, when a hook changed the serialized error in the
    entry's data (redact censoring it), no ``exc_info`` and the ``exc_text`` a
    ``Formatter`` prints instead: the traceback as the data holds it (or its summary
    line), so handlers never see what was censored. See ``_render_py._error_parts``."""
    from .. import _render_py as pure

    data = entry.data
    serialized = pure._ABSENT
    if data:
        try:
            serialized = data.get(getattr(entry, "error_key", "err"), pure._ABSENT)
        except Exception:
            serialized = pure._ABSENT
    if serialized is pure._ABSENT or pure._as_written(error, serialized):
        try:
            traceback = error.__traceback__
        except Exception:  # a hostile __getattribute__: logging could not format it
            summary, traceback_text = pure._error_parts(error, pure._ABSENT)
            return None, traceback_text.rstrip("\n") if traceback_text else summary
        return (type(error), error, traceback), None
    summary, traceback_text = pure._error_parts(error, serialized)
    return None, traceback_text.rstrip("\n") if traceback_text else summary


def _copy(items: Any, name: str) -> dict:
    """A shallow copy of ``items``, or ``{name: its text}`` when it cannot be read."""
    try:
        return dict(items)
    except Exception:
        return {name: text_of(items)}


def _record_extra(entry: Any) -> dict:
    """The ``extra`` of the record for ``entry`` (see :class:`StdlibTransport`)."""
    data = _copy(entry.data, "data") if entry.data else {}
    metadata = entry.metadata
    try:
        mapped = None if metadata is None else to_map(metadata)
        if mapped is not None:
            mapped = dict(mapped)  # the record must not share the caller's dict
    except Exception:  # a mapping that cannot be read: its text, the record still goes
        mapped = {"metadata": text_of(metadata)}
    extra = {key: value for key, value in data.items()
             if type(key) is str and key not in RESERVED_KEYS}
    if mapped is not None:
        if entry.metadata_key:
            if entry.metadata_key not in RESERVED_KEYS:
                extra[entry.metadata_key] = mapped
        else:
            extra.update((key, value) for key, value in mapped.items()
                         if type(key) is str and key not in RESERVED_KEYS)
    extra[DATA_KEY] = data
    extra[METADATA_KEY] = mapped if mapped is not None else metadata
    return extra
