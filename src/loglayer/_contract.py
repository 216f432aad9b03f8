"""``TransportContract``: what every loglayer transport owes its users, as a pytest base
class. ``loglayer.testing`` re-exports it; it lives apart because it imports pytest,
which the rest of ``loglayer.testing`` does not need.

A transport author subclasses it, says how to make the transport and how to read back
what it wrote, and pytest runs each check of the contract against that transport::

    import io
    import json

    from loglayer import StructuredTransport
    from loglayer.testing import TransportContract, WrittenEntry


    class TestMyJsonLines(TransportContract):
        def make_transport(self):
            self.out = io.BytesIO()
            return StructuredTransport(self.out)

        def read_back(self, transport):
            entries = []
            for line in self.out.getvalue().splitlines():
                doc = json.loads(line)
                entries.append(WrittenEntry(
                    message=doc.pop("msg"), level=doc.pop("level"),
                    error=doc.get("err"), fields=doc, raw=line))
            return entries

A check that cannot apply to a transport (a flat line has nowhere to nest metadata
under ``metadata_key``) is declared, with the reason, in ``not_applicable``; pytest
reports it as skipped with that reason, so it is never silently passed over::

        not_applicable = {
            "metadata_key": "logfmt is flat: metadata is written inline",
        }

``TransportContract.CHECKS`` names the checks. Outside pytest (unittest, a REPL),
``MyContract.run()`` runs them all and returns what became of each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import json
import pathlib
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from ._multiline import Multiline
from ._select import LogLayer
from .errors import TransportError
from .levels import LogLevel

__all__ = ["TransportContract", "WrittenEntry"]

#: How many threads write at once in the ``threads`` check.
THREADS = 4
#: Seconds a check waits for its writer threads: a bound on a hang, not a timing.
_THREAD_WAIT = 120.0


@dataclasses.dataclass(frozen=True)
class WrittenEntry:
    """One entry as a transport wrote it, in the shape ``TransportContract`` compares.

    * ``message``: the text written for the prefix and the messages.
    * ``level``: the level as written: a ``LogLevel``, a level name (``"warn"``,
      ``"WARNING"``) or a stdlib level number; None when nothing was written for it.
    * ``fields``: the key/value pairs written beside the message (data and metadata),
      under the names written (see ``TransportContract.field_name``). A value may be
      the object itself or the text written for it (see ``value_matches``).
    * ``error``: what was written for the entry's error (text, or a JSON-like value
      such as a serialized error dict); None when nothing was.
    * ``raw``: the entry as written (a line, a document, a record), shown when a
      check fails.
    """

    message: str
    level: Any = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: Any = None
    raw: Any = None


def _check(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Marks a test method as the check ``name`` (what ``not_applicable`` refers to)."""

    def mark(method: Callable[..., None]) -> Callable[..., None]:
        setattr(method, "contract_check", name)  # noqa: B010 - a function attribute
        return method

    return mark


# -- hostile values ---------------------------------------------------------------------
#
# The values loglayer's own transports are hardened against (tests/test_hardening_*.py,
# tests/test_hostile.py): objects that refuse to become text, that lie about themselves
# or change the dict they sit in, text that forges lines or is not UTF-8, numbers JSON
# has no room for, containers that never end.


class _Unprintable:
    """``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class _Hostile:
    """Every attribute lookup raises, ``__class__`` included (a broken proxy)."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __str__(self) -> str:
        return "hostile"


class _HostileError(Exception):
    """An exception whose every attribute lookup raises (``__traceback__`` too)."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for this error")


class _LyingStr(str):
    """A str subclass whose own methods lie or fail."""

    def __str__(self) -> str:
        return "forged"

    def __contains__(self, item: object) -> bool:
        raise RuntimeError("no contains")

    def __radd__(self, other: object) -> str:
        return "forged"

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("no encode")


class _ItemsFail(dict):
    """A dict whose ``items()`` raises."""

    def items(self) -> Any:
        raise RuntimeError("no items for you")


class _BrokenMapping(Mapping):
    """A mapping whose every way of being read raises."""

    def __getitem__(self, key: object) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        return 1

    def keys(self) -> Any:
        raise RuntimeError("no keys")

    def items(self) -> Any:
        raise RuntimeError("no items")

    def __str__(self) -> str:
        return "BrokenMapping()"


class _Grower:
    """A value whose text adds a key to the dict it sits in, as another thread could
    while the entry is written."""

    def __init__(self, target: dict) -> None:
        self.target = target

    def __str__(self) -> str:
        self.target[f"added{len(self.target)}"] = 1
        return "grower"


class _Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class _Point:
    x: int
    y: Any


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as exc:
        return exc


def _circular() -> list:
    items: list = [1]
    items.append(items)
    return items


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": [value]}
    return value


def _growing() -> dict:
    target: dict = {"a": 1}
    target["g"] = _Grower(target)
    target["z"] = 2
    return target


_FORGING = "x\nINFO  forged entry\r\x1b[2J\x1b]0;title\x07\u2028\u2029\x85\x00\x7f"
_SURROGATES = "report-\udcff.txt \ud800"


def _hostile_cases() -> list[tuple[str, Callable[[Any, str], None]]]:
    """``(name, log)`` pairs: ``log(logger, marker)`` makes one INFO entry whose first
    message is ``marker`` (after the prefix, for the prefix case). Fresh objects each
    time: some change as they are written."""
    big = ("line of text\n" * 22_000)[:256 * 1024]
    return [
        ("unprintable-message", lambda log, m: log.info(m, _Unprintable())),
        ("hostile-message", lambda log, m: log.info(m, _Hostile(), "and", _Hostile())),
        ("forging-text", lambda log, m: log.with_metadata(
            {_FORGING: _FORGING, "k": _FORGING}).info(m, _FORGING)),
        ("lone-surrogates", lambda log, m: log.with_metadata(
            {_SURROGATES: _SURROGATES}).info(m, _SURROGATES)),
        ("lying-str", lambda log, m: log.with_metadata(
            {_LyingStr("key"): _LyingStr("a value")}).info(m, _LyingStr("message"))),
        ("odd-keys", lambda log, m: log.with_metadata(
            {1: "int", None: "none", (1, 2): "tuple", _Unprintable(): "unprintable",
             "": "empty", "a b=c\"d": "spaced"}).info(m)),
        ("reserved-keys", lambda log, m: log.with_metadata(
            {"msg": "forged", "message": "forged", "level": "fatal", "time": 0,
             "err": "forged", "name": "forged", "levelname": "forged", "MESSAGE": "forged",
             "PRIORITY": "0", "_pid": 1, "exc_info": "forged"}).info(m)),
        ("numbers", lambda log, m: log.with_metadata(
            {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
             "big": 2**64 + 1, "negative": -(2**70), "huge": 10**5000,
             "complex": complex(1, 2)}).info(m, float("nan"), 10**5000)),
        ("containers", lambda log, m: log.with_metadata(
            {"circular": _circular(), "deep": _deep(40), "set": {1, 2},
             "frozen": frozenset({3}), "bytes": b"\xff\x00raw", "object": object(),
             "when": datetime.datetime(2024, 5, 1, 12, 0), "enum": _Color.RED,
             "point": _Point(1, _Unprintable()), "values": [_Unprintable(), _Hostile()]}
        ).info(m, b"\xffbytes", _circular())),
        ("unprintable-values", lambda log, m: log.with_metadata(
            {"u": _Unprintable(), "h": _Hostile(), "nested": {"u": [_Unprintable()]}}).info(m)),
        ("changing-dict", lambda log, m: log.with_metadata(_growing()).info(m)),
        ("items-raise", lambda log, m: log.with_metadata(_ItemsFail(a=1, b="x y")).info(m)),
        ("broken-mapping", lambda log, m: log.with_metadata(_BrokenMapping()).info(m)),
        ("not-a-mapping", lambda log, m: log.with_metadata([1, "two", _Unprintable()]).info(m)),
        ("scalar-metadata", lambda log, m: log.with_metadata(_Unprintable()).info(m)),
        ("hostile-fields", lambda log, m: log.with_fields(
            {"u": _Unprintable(), "h": _Hostile(), "s": _SURROGATES}).info(m)),
        ("hostile-error", lambda log, m: log.with_error(
            _raised(_HostileError("boom"))).info(m)),
        ("unprintable-error", lambda log, m: log.with_error(
            _raised(_UnprintableError())).info(m)),
        ("error-forging-text", lambda log, m: log.with_error(
            _raised(ValueError(_FORGING + _SURROGATES))).info(m)),
        ("forging-multiline", lambda log, m: log.info(
            m, Multiline("first", "second\nINFO  forged entry", _SURROGATES))),
        ("forging-prefix", lambda log, m: log.with_prefix(_FORGING).info(m)),
        ("large-value", lambda log, m: log.with_metadata({"big": big}).info(m)),
    ]


#: The hostile cases by name, for ``TransportContract`` subclasses and their reports.
HOSTILE_CASES = tuple(name for name, _ in _hostile_cases())


def _raise_for_the_contract() -> None:
    """Raises a chained error with a traceback through this function."""
    try:
        raise KeyError("root-cause-7")
    except KeyError as cause:
        raise ValueError("bad input 42") from cause


def _text(value: Any) -> str:
    """A written value as text, to look for a substring in it."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except Exception:
        return str(value)


def _brief(value: Any, limit: int = 400) -> str:
    """``repr(value)``, its middle elided when it is long (a 256 KiB value, say)."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<repr failed: {exc!r}>"
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ... ({len(text) - limit} characters) ... {text[-half:]}"


def _shown(entries: Sequence[Any], limit: int = 40) -> str:
    """The entries as a failure message shows them, one per line."""
    if not entries:
        return "  (nothing)"
    lines = [f"  [{index}] {_brief(entry)}" for index, entry in enumerate(entries[:limit])]
    if len(entries) > limit:
        lines.append(f"  ... and {len(entries) - limit} more")
    return "\n".join(lines)


class _Run:
    """One transport and the logger writing to it, for one check."""

    def __init__(self, contract: TransportContract, transport: Any, log: Any) -> None:
        self.contract = contract
        self.transport = transport
        self.log = log

    def flush(self) -> None:
        flush = getattr(self.transport, "flush", None)
        if callable(flush):
            flush()

    def read(self, count: int | None, *, flush: bool = True) -> list[WrittenEntry]:
        """What the transport wrote, after a ``flush()`` (unless told not to); fails
        unless there are ``count`` entries (None: any number)."""
        if flush:
            self.flush()
        self.contract._assert_no_failures()
        entries = list(self.contract.read_back(self.transport))
        wrong = [entry for entry in entries if not isinstance(entry, WrittenEntry)]
        if wrong:
            raise TypeError(f"read_back() must return WrittenEntry objects, got {_brief(wrong[0])}")
        if count is not None and len(entries) != count:
            raise AssertionError(f"expected {count} entries to be written, read back "
                                 f"{len(entries)}:\n{_shown(entries)}")
        return entries


class TransportContract:
    r"""A pytest base class that checks a transport keeps loglayer's transport contract.

    Subclass it in a test module (name the subclass ``Test...`` so pytest collects
    it) and implement two methods:

    * ``make_transport()``: a fresh transport to test. pytest makes a new instance of
      the class for each check, so ``self`` is a good place for what ``read_back``
      needs (a stream, a path, a server); ``self.tmp_path`` is a fresh directory.
    * ``read_back(transport)``: every entry the transport has written so far, oldest
      first, each as a ``WrittenEntry``. The contract calls the transport's
      ``flush()`` (when it has one) before it reads, except after ``close()``, when it
      reads what the closed transport left: so ``read_back`` reads, it does not flush.

    Then each check makes a transport and a logger (``make_logger``; default level
    TRACE, error key ``"err"``), logs, and compares what ``read_back`` returns:

    * ``messages``: the messages, whatever their type, written as their text joined
      by one space, each entry once, in order.
    * ``levels``: one entry per level method, each written as its level (or as
      declared in ``level_aliases``).
    * ``prefix``: ``with_prefix(p)`` writes ``p``, one space, then the messages.
    * ``metadata``: fields and a dict's keys are written at the root, beside (never in)
      the message; a dataclass's fields likewise.
    * ``metadata_key``: with ``metadata_key="meta"`` the metadata is written under
      ``meta`` as a whole, not at the root.
    * ``errors``: an error is written with its type and message.
    * ``tracebacks``: a raised error with its traceback (the raising function's name)
      and its cause.
    * ``multiline``: ``Multiline("a", "b")`` is one entry whose lines are ``a`` then
      ``b`` (indentation aside), and the next entry is a separate one.
    * ``hostile``: each case of ``HOSTILE_CASES`` (objects whose ``str()`` or every
      attribute raises, text that forges lines, lone surrogates, NaN, ints beyond 64
      bits or ``str()``'s limit, circular and deep containers, mappings that fail or
      change while read, reserved keys, a 256 KiB value ...) is logged without the log
      call raising and without a ``TransportError``; each gives exactly one entry,
      in order and at its level, whose message holds the case's own first message
      (so no data key overwrote it).
    * ``flush_close``: ``flush()`` and ``close()`` called twice (on the transport and
      through the logger), before and after writing, never raise, and what was
      written before is there, once, after the second ``close()``.
    * ``order``: entries logged one after another are written in that order.
    * ``threads``: 4 threads logging at once (``thread_entries`` each) lose nothing,
      duplicate nothing and tear nothing: each entry's message and fields (one of
      them 1.5 KB long) come back whole and together, in each thread's order.

    A ``TransportError`` reported by the logger during a check fails it.

    Declaring what a transport cannot express, instead of skipping silently:

    * ``not_applicable``: ``{check name: reason}``; pytest reports those checks as
      skipped with the reason. An unknown name or an empty reason is a ``TypeError``
      when the subclass is defined.
    * ``level_aliases``: ``{level: level written instead}``, for a transport with fewer
      levels than loglayer (syslog severities write TRACE as DEBUG).
    * ``field_name(key)``: the name a key is written under (journald upper-cases).
    * ``value_matches(written, expected)``: whether a written value is the one logged.
      By default: equal, or, for a value that is not a str, text equal to its compact
      JSON or its ``str()`` (``True`` as ``"true"`` or ``"True"``, ``{"a": 1}`` as
      ``'{"a":1}'``).
    * ``make_logger(transport, **options)``: the logger the checks use.

    A complete example: a third party's transport writing logfmt-style lines (no
    traceback, nothing nested), and its contract::

        import io
        import json
        import re
        import threading

        from loglayer import Transport
        from loglayer.testing import TransportContract, WrittenEntry
        from loglayer.utils import to_map


        def text(value):  # whatever the value: its str() may raise, or lie
            try:
                value = value if type(value) is str else str(value)
            except Exception:
                value = f"<unprintable {type(value).__name__}>"
            return str.__str__(value)


        def key_text(key):
            key = text(key)
            return "_" + key if key in ("level", "msg") else key  # never overwrite those


        class LogfmtTransport(Transport):
            def __init__(self, stream, **options):
                super().__init__(**options)
                self.stream, self.lock = stream, threading.Lock()

            def send(self, entry):
                words = ([entry.prefix] if entry.prefix else []) + list(entry.messages)
                metadata = {} if entry.metadata is None else to_map(entry.metadata)
                if metadata is None:  # not record-like: written whole
                    metadata = {"metadata": entry.metadata}
                # dict.items: a snapshot, whatever a dict subclass's items() does
                items = list(dict.items(entry.data)) + list(dict.items(metadata))
                pairs = [("level", entry.level.name), ("msg", " ".join(map(text, words)))]
                pairs += [(key_text(key), text(value)) for key, value in items]
                # JSON-quoted: one line, whatever the text holds
                line = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in pairs)
                with self.lock:
                    self.stream.write(line + "\n")


        PAIR = re.compile(r'("(?:[^"\\]|\\.)*")=("(?:[^"\\]|\\.)*")')


        class TestLogfmtTransport(TransportContract):
            not_applicable = {
                "metadata_key": "logfmt is flat: metadata is written inline",
                "tracebacks": "one line per entry: the error is its type and message",
            }

            def make_transport(self):
                self.out = io.StringIO()
                return LogfmtTransport(self.out)

            def read_back(self, transport):
                entries = []
                for line in self.out.getvalue().splitlines():
                    pairs = dict((json.loads(k), json.loads(v)) for k, v in PAIR.findall(line))
                    entries.append(WrittenEntry(
                        message=pairs.pop("msg"), level=pairs.pop("level"),
                        error=pairs.get("err"), fields=pairs, raw=line))
                return entries
    """

    #: The checks, by the name ``not_applicable`` uses.
    CHECKS: ClassVar[tuple[str, ...]] = (
        "messages", "levels", "prefix", "metadata", "metadata_key", "errors", "tracebacks",
        "multiline", "hostile", "flush_close", "order", "threads")
    #: The names of the ``hostile`` check's cases, in the order they are logged.
    HOSTILE_CASES: ClassVar[tuple[str, ...]] = HOSTILE_CASES

    #: ``{check name: why it does not apply to this transport}``.
    not_applicable: ClassVar[Mapping[str, str]] = {}
    #: ``{level: the level this transport writes for it}``.
    level_aliases: ClassVar[Mapping[LogLevel, LogLevel]] = {}
    #: Entries each of the 4 threads writes in the ``threads`` check.
    thread_entries: ClassVar[int] = 100

    #: A fresh directory for each check.
    tmp_path: pathlib.Path

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.not_applicable) - set(cls.CHECKS))
        if unknown:
            raise TypeError(f"{cls.__name__}.not_applicable names no check: "
                            f"{', '.join(map(repr, unknown))} (the checks: "
                            f"{', '.join(cls.CHECKS)})")
        for name, reason in cls.not_applicable.items():
            if not isinstance(reason, str) or not reason.strip():
                raise TypeError(f"{cls.__name__}.not_applicable[{name!r}] must be the reason, "
                                f"a non-empty str, got {reason!r}")
        for level, written in cls.level_aliases.items():
            LogLevel.parse(level)
            LogLevel.parse(written)
        if type(cls.thread_entries) is not int or cls.thread_entries < 1:
            raise TypeError(f"{cls.__name__}.thread_entries must be a positive int, "
                            f"got {cls.thread_entries!r}")

    # -- what a subclass provides ------------------------------------------------------

    def make_transport(self) -> Any:
        """A fresh transport to check."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_transport()")

    def read_back(self, transport: Any) -> Sequence[WrittenEntry]:
        """Every entry ``transport`` has written so far, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_back(transport)")

    def make_logger(self, transport: Any, **options: Any) -> Any:
        """The logger a check writes with: ``LogLayer(transports=transport, **options)``,
        with transport failures collected (each fails the check)."""
        return LogLayer(transports=transport, on_transport_error=self._transport_failed,
                        **options)

    def field_name(self, key: str) -> str:
        """The name under which the transport writes the data or metadata key ``key``."""
        return key

    def value_matches(self, written: Any, expected: Any) -> bool:
        """Whether ``written`` (a value from ``WrittenEntry.fields``) is ``expected``."""
        if written == expected:
            return True
        if not isinstance(written, str) or isinstance(expected, str):
            return False
        if written == json.dumps(expected, separators=(",", ":"), ensure_ascii=False):
            return True
        return written == str(expected)

    # -- running the checks ------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _contract_check(self, request: Any, tmp_path: pathlib.Path) -> None:
        """Skips a check declared not applicable; gives each check its directory."""
        name = getattr(request.function, "contract_check", None)
        if name is not None and name in self.not_applicable:
            pytest.skip(f"not applicable to {type(self).__name__}: "
                        f"{self.not_applicable[name]}")
        self.tmp_path = tmp_path

    @classmethod
    def run(cls) -> dict[str, str]:
        """Run every check without pytest (unittest, a script, a REPL).

        Returns ``{check: "passed"}``, or ``"not applicable: <reason>"`` for a check in
        ``not_applicable``; raises ``AssertionError`` naming each check that failed and
        why. Each check gets a fresh instance and a fresh temporary ``tmp_path``; a
        subclass that needs pytest fixtures is for pytest only.
        """
        results: dict[str, str] = {}
        failures: list[str] = []
        for name, method in cls._check_methods():
            if name in cls.not_applicable:
                results[name] = f"not applicable: {cls.not_applicable[name]}"
                continue
            contract = cls()
            with tempfile.TemporaryDirectory(prefix="loglayer-contract-") as tmp:
                contract.tmp_path = pathlib.Path(tmp)
                try:
                    getattr(contract, method)()
                except Exception as exc:
                    failures.append(f"{name} ({method}): {type(exc).__name__}: {exc}")
                    results[name] = "failed"
                else:
                    results[name] = "passed"
        if failures:
            raise AssertionError(f"{cls.__name__} fails {len(failures)} of the transport "
                                 "contract's checks:\n" + "\n".join(failures))
        return results

    @classmethod
    def _check_methods(cls) -> list[tuple[str, str]]:
        """``(check name, method name)`` in ``CHECKS`` order."""
        found = {}
        for attribute in dir(cls):
            name = getattr(getattr(cls, attribute, None), "contract_check", None)
            if name is not None:
                found[name] = attribute
        return [(name, found[name]) for name in cls.CHECKS]

    def _transport_failed(self, error: TransportError) -> None:
        self.__dict__.setdefault("_failures", []).append(error)

    def _assert_no_failures(self) -> None:
        failures = self.__dict__.get("_failures") or []
        if failures:
            shown = "\n".join(f"  {error}: {error.__cause__!r}" for error in failures)
            raise AssertionError(f"the logger reported {len(failures)} transport "
                                 f"failure(s):\n{shown}") from failures[0]

    @contextlib.contextmanager
    def _writing(self, **logger_options: Any) -> Iterator[_Run]:
        """A fresh transport and a logger writing to it; the transport is closed after
        (a failure to close is reported unless the check already failed)."""
        transport = self.make_transport()
        failed = False
        try:
            yield _Run(self, transport, self.make_logger(transport, **logger_options))
        except BaseException:
            failed = True
            raise
        finally:
            close = getattr(transport, "close", None)
            if callable(close):
                if failed:
                    with contextlib.suppress(Exception):
                        close()
                else:
                    close()
        self._assert_no_failures()

    def _level(self, entry: WrittenEntry) -> LogLevel:
        if entry.level is None:
            raise AssertionError(f"read_back() gave no level for {_brief(entry)}; return the level "
                                 "written, or declare 'levels' in not_applicable")
        try:
            return LogLevel.parse(entry.level)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"WrittenEntry.level must be a LogLevel, a level name or a "
                                 f"stdlib level number: {exc} (in {_brief(entry)})") from None

    def _expect_level(self, entry: WrittenEntry, level: LogLevel) -> None:
        expected = LogLevel.parse(self.level_aliases.get(level, level))
        written = self._level(entry)
        assert written == expected, (
            f"an entry logged at {level.name} was written as {written.name}"
            + (f" (level_aliases says {expected.name})" if expected != level else "")
            + f": {_brief(entry)}")

    def _field(self, entry: WrittenEntry, key: str) -> Any:
        name = self.field_name(key)
        fields = entry.fields
        if name not in fields:
            raise AssertionError(f"no field {name!r} (for the key {key!r}) was written: "
                                 f"{_brief(entry)}")
        return fields[name]

    def _expect_field(self, entry: WrittenEntry, key: str, expected: Any) -> None:
        written = self._field(entry, key)
        assert self.value_matches(written, expected), (
            f"{key!r} was logged as {_brief(expected)} and written as {_brief(written)}: "
            f"{_brief(entry)}")

    # -- the checks --------------------------------------------------------------------

    @_check("messages")
    def test_messages_are_written_as_their_text_joined_by_one_space(self) -> None:
        with self._writing() as run:
            run.log.info("user", "ada", "logged in")
            run.log.warn("took", 42, "ms,", 1.5, None, True)
            run.log.info("kept  as  written")
            run.log.error("a  b", " c ")
            entries = run.read(4)
        expected = ["user ada logged in", "took 42 ms, 1.5 None True", "kept  as  written",
                    "a  b  c "]
        assert [entry.message for entry in entries] == expected, (
            f"messages written as {[entry.message for entry in entries]!r}, logged as "
            f"{expected!r}:\n{_shown(entries)}")

    @_check("levels")
    def test_each_level_is_written_as_itself(self) -> None:
        with self._writing() as run:
            for level in LogLevel:
                getattr(run.log, level.name.lower())(f"at {level.name}")
            entries = run.read(len(LogLevel))
        for level, entry in zip(LogLevel, entries, strict=True):
            assert entry.message == f"at {level.name}", (
                f"entries out of order or altered:\n{_shown(entries)}")
            self._expect_level(entry, level)

    @_check("prefix")
    def test_the_prefix_comes_before_the_messages(self) -> None:
        with self._writing(prefix="[billing]") as run:
            run.log.info("invoice", 7, "sent")
            run.log.with_prefix("[auth]").warn("token expired")
            run.log.with_prefix(None).info("no prefix")
            entries = run.read(3)
        expected = ["[billing] invoice 7 sent", "[auth] token expired", "no prefix"]
        assert [entry.message for entry in entries] == expected, (
            f"expected the messages {expected!r}:\n{_shown(entries)}")

    @_check("metadata")
    def test_fields_and_metadata_are_written_at_the_root(self) -> None:
        with self._writing() as run:
            log = run.log.with_fields(request_id="r-42")
            log.with_metadata({"user": "ada", "count": 3, "ok": True}).info("with metadata")
            log.with_metadata(_Point(5, "six")).info("with a dataclass")
            entries = run.read(2)
        first, second = entries
        assert first.message == "with metadata", (
            f"the metadata must be written beside the message, not in it: {_brief(first)}")
        self._expect_field(first, "request_id", "r-42")
        self._expect_field(first, "user", "ada")
        self._expect_field(first, "count", 3)
        self._expect_field(first, "ok", True)
        assert second.message == "with a dataclass", _brief(second)
        self._expect_field(second, "request_id", "r-42")
        self._expect_field(second, "x", 5)
        self._expect_field(second, "y", "six")

    @_check("metadata_key")
    def test_metadata_key_writes_the_metadata_under_that_key(self) -> None:
        metadata = {"user": "ada", "count": 3}
        with self._writing(metadata_key="meta") as run:
            run.log.with_fields(request_id="r-42").with_metadata(metadata).info("nested")
            (entry,) = run.read(1)
        assert entry.message == "nested", _brief(entry)
        self._expect_field(entry, "meta", metadata)
        self._expect_field(entry, "request_id", "r-42")
        for key in metadata:
            assert self.field_name(key) not in entry.fields, (
                f"with metadata_key='meta', {key!r} must not be written at the root: "
                f"{_brief(entry)}")

    @_check("errors")
    def test_an_error_is_written_with_its_type_and_message(self) -> None:
        with self._writing() as run:
            run.log.with_error(ValueError("bad input 42")).error("request failed")
            run.log.error_only(KeyError("missing-key-9"), copy_msg=True)
            entries = run.read(2)
        for entry, type_name, message in ((entries[0], "ValueError", "bad input 42"),
                                          (entries[1], "KeyError", "missing-key-9")):
            assert entry.error is not None, f"no error was written: {_brief(entry)}"
            text = _text(entry.error)
            assert type_name in text and message in text, (
                f"the error {type_name}({message!r}) was written as {_brief(text)}: "
                f"{_brief(entry)}")
            self._expect_level(entry, LogLevel.ERROR)
        assert entries[0].message == "request failed", _brief(entries[0])

    @_check("tracebacks")
    def test_a_raised_error_is_written_with_its_traceback_and_cause(self) -> None:
        with self._writing() as run:
            try:
                _raise_for_the_contract()
            except ValueError:
                run.log.exception("while importing")
            (entry,) = run.read(1)
        assert entry.message == "while importing", _brief(entry)
        text = _text(entry.error)
        for part in ("ValueError", "bad input 42", "_raise_for_the_contract", "KeyError",
                     "root-cause-7"):
            assert part in text, (f"{part!r} is missing from the error as written: "
                                  f"{_brief(text)}: {_brief(entry)}")

    @_check("multiline")
    def test_a_multiline_message_keeps_its_lines_in_one_entry(self) -> None:
        with self._writing() as run:
            run.log.info(Multiline("first line", "second line", "third line"))
            run.log.with_metadata({"after": 1}).info("next entry")
            first, second = run.read(2)
        lines = [line.strip() for line in first.message.splitlines()]
        assert lines == ["first line", "second line", "third line"], (
            f"the Multiline's lines were written as {first.message!r}: {_brief(first)}")
        assert second.message == "next entry", _brief(second)

    @_check("hostile")
    def test_hostile_values_never_fail_the_log_call_or_lose_the_entry(self) -> None:
        cases = _hostile_cases()
        raised = []
        with self._writing() as run:
            for name, log in cases:
                try:
                    log(run.log, f"hostile:{name}")
                except Exception as exc:  # the log call must never raise
                    raised.append(f"{name}: {exc!r}")
            assert not raised, "the log call raised:\n" + "\n".join(raised)
            entries = run.read(None)
        markers = [f"hostile:{name}" for name, _ in cases]
        missing = [marker for marker in markers
                   if not any(marker in entry.message for entry in entries)]
        assert not missing and len(entries) == len(cases), (
            f"{len(cases)} hostile entries logged, {len(entries)} written; missing: "
            f"{missing}:\n{_shown(entries)}")
        for marker, entry in zip(markers, entries, strict=True):
            assert marker in entry.message, (
                f"entries out of order or a message overwritten: expected one with "
                f"{marker!r}, got {_brief(entry)}")
            self._expect_level(entry, LogLevel.INFO)

    @_check("flush_close")
    def test_flush_and_close_may_be_called_twice(self) -> None:
        with self._writing() as run:  # nothing written yet
            for _ in range(2):
                run.flush()
            for _ in range(2):
                close = getattr(run.transport, "close", None)
                if callable(close):
                    close()
        with self._writing() as run:
            run.log.info("before close")
            run.flush()
            (entry,) = run.read(1)  # flushes a second time
            assert entry.message == "before close", _brief(entry)
            run.log.flush()
            run.log.close()  # closes the transport ...
            close = getattr(run.transport, "close", None)
            if callable(close):
                close()  # ... and its owner closes it again
            (entry,) = run.read(1, flush=False)
            assert entry.message == "before close", _brief(entry)

    @_check("order")
    def test_entries_are_written_in_the_order_logged(self) -> None:
        count = 50
        with self._writing() as run:
            for index in range(count):
                run.log.with_metadata({"seq": index}).info(f"entry {index}")
            entries = run.read(count)
        assert [entry.message for entry in entries] == [f"entry {i}" for i in range(count)], (
            f"entries out of order:\n{_shown(entries)}")

    @_check("threads")
    def test_threads_logging_at_once_lose_duplicate_and_tear_nothing(self) -> None:
        count = self.thread_entries
        barrier = threading.Barrier(THREADS)
        raised: list[str] = []

        def payload(thread: int, index: int) -> str:
            # long enough that a write cut or interleaved shows in the value
            return f"{thread}:{index}:" + "." * 1500 + f":{thread}:{index}"

        def write(log: Any, thread: int) -> None:
            try:
                barrier.wait(_THREAD_WAIT)
                for index in range(count):
                    log.with_metadata({"writer": thread, "seq": index,
                                       "payload": payload(thread, index)}).info(
                        f"thread {thread} entry {index}")
            except Exception as exc:
                raised.append(f"thread {thread}: {exc!r}")

        with self._writing() as run:
            interval = sys.getswitchinterval()
            sys.setswitchinterval(1e-5)  # switch threads as often as the interpreter can
            try:
                workers = [threading.Thread(target=write, args=(run.log, thread),
                                            name=f"contract-writer-{thread}")
                           for thread in range(THREADS)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(_THREAD_WAIT)
            finally:
                sys.setswitchinterval(interval)
            assert not any(worker.is_alive() for worker in workers), "a writer thread hung"
            assert not raised, "the log call raised:\n" + "\n".join(raised)
            entries = run.read(None)
        expected = {f"thread {t} entry {i}" for t in range(THREADS) for i in range(count)}
        messages = [entry.message for entry in entries]
        lost = sorted(expected - set(messages))
        assert not lost, f"{len(lost)} entries lost, e.g. {lost[:5]}"
        assert len(messages) == len(expected), (
            f"{len(messages) - len(expected)} entries written more than once or unknown: "
            f"{sorted(set(m for m in messages if messages.count(m) > 1 or m not in expected))[:5]}")
        seen: dict[int, list[int]] = {thread: [] for thread in range(THREADS)}
        for entry in entries:
            _, thread_text, _, index_text = entry.message.split(" ")
            thread, index = int(thread_text), int(index_text)
            self._expect_field(entry, "writer", thread)
            self._expect_field(entry, "seq", index)
            self._expect_field(entry, "payload", payload(thread, index))
            seen[thread].append(index)
        if "order" not in self.not_applicable:
            for thread, indexes in seen.items():
                assert indexes == sorted(indexes), (
                    f"thread {thread}'s entries were written out of order: {indexes[:20]}...")
