"""``Cloner``: a deep clone of log data with a censor written over what must not be logged.

Plugins must not mutate what the caller passed in (SPEC §4), so a plugin that rewrites
metadata or fields (redaction, sanitising) works on a copy. Copying every entry is the
expensive part, and most entries hold nothing to rewrite, so the Cloner has two halves:
:meth:`Cloner.needs_clone` walks a value, without allocating for plain dicts, lists and
scalars, and says whether :meth:`Cloner.clone` would change anything; only then does the
caller pay for the clone (``share_unchanged=True`` copies only what leads to a change).

Both halves walk the same shapes in the same way, so they always agree:

* mappings (``dict`` and its subclasses, ``MappingProxyType``, other ``Mapping`` types
  whose constructor takes a dict): each str key is matched; values are walked;
* lists, tuples, sets and frozenset (and their subclasses): items are walked;
* records, whose field names are matched like keys and whose field values are walked:
  namedtuples, dataclasses (frozen and slotted ones included), attrs classes, pydantic
  v2 and v1 models, and other objects through their public (non-underscore) instance
  attributes from ``__dict__`` and ``__slots__``. ``loglayer._records`` defines them for
  ``loglayer.utils.to_map`` too: every name a transport shows is walked (for a pydantic
  model: what ``model_dump()`` gives, computed fields, extras and what its serializers
  make included, plus what it stores that its ``str()`` shows: excluded fields, and the
  stored value of a field a serializer rewrote), so what is walked is what gets logged.

Everything else (numbers, bytes, enum members, exceptions, classes, functions, objects
with no public attributes...) is a leaf, returned as the very same object.

This module is the definition of the walk. When the compiled fast path
(``loglayer.utils._clonefast``) is built, it takes the plain dicts, lists, tuples, str
and scalars, and hands every other shape back to the functions here, with the same
state; ``LOGLAYER_NO_EXTENSIONS=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import copy
import re
import types
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

from .._native import compiled
from .._records import ITEMS, MAPPING, NAMEDTUPLE, NOT_RECORD, PYDANTIC2, Fields, fields, kind_of

_fast: Any = compiled("utils._clonefast")  # None: the pure walk does everything

__all__ = ["Cloner", "Matcher"]

#: What ``match_key`` and ``match_value`` accept: an exact str, a compiled regex
#: (``search`` semantics), a predicate on the str, or a collection of these.
Matcher = str | re.Pattern[str] | Callable[[str], object] | Iterable[Any] | None

# Types that are never walked; checked by identity first, as most values are these.
_ATOMS = frozenset([int, float, bool, type(None), complex, bytes, bytearray])

_UNSET = object()
_NOTHING: frozenset = frozenset()

#: The kind ``_contents`` gives a value whose contents could not be read.
_BROKEN = -1


def compile_matchers(name: str, spec: Matcher) -> tuple[frozenset, tuple, tuple]:
    """Split a matcher spec into (exact strs, compiled regexes, predicates).

    ``name`` is the argument's name, used in the error messages. A regex must be a
    str pattern that cannot match the empty string (it would match everything).
    """
    if spec is None:
        return frozenset(), (), ()
    if isinstance(spec, (str, re.Pattern)) or callable(spec):
        items, single = [spec], True
    elif isinstance(spec, (bytes, bytearray, Mapping)) or not isinstance(spec, Iterable):
        raise TypeError(f"{name} must be a str, a compiled regex, a callable or a collection "
                        f"of these, got {type(spec).__name__}")
    else:
        items, single = list(spec), False
    exact, regexes, predicates = [], [], []
    for index, item in enumerate(items):
        where = name if single else f"{name}[{index}]"
        if isinstance(item, str):
            exact.append(item)
        elif isinstance(item, re.Pattern):
            if not isinstance(item.pattern, str):
                raise TypeError(f"{where} must be a str regex, got a bytes regex {item!r}")
            if item.search("") is not None:
                raise ValueError(f"{where}: the regex {item.pattern!r} matches the empty "
                                 "string, so it would match everything")
            regexes.append(item)
        elif callable(item):
            predicates.append(item)
        else:
            raise TypeError(f"{where} must be a str, a compiled regex or a callable, "
                            f"got {type(item).__name__}")
    return frozenset(exact), tuple(regexes), tuple(predicates)


class Cloner:
    """Deep-clones a value, writing ``censor`` over keys and string values that match.

        cloner = Cloner(match_key=("password", re.compile("(?i)token")),
                        match_value=re.compile(r"\\b\\d{16}\\b"))
        if cloner.needs_clone(metadata):      # cheap, allocates nothing
            metadata = cloner.clone(metadata)  # the caller's object is left alone

    ``match_key``: str keys of mappings and field names of records that match have
    their whole value replaced by ``censor`` (a container under such a key is not
    walked). ``match_value``: str values that match a str exactly or satisfy a predicate
    become ``censor``; the parts of a str that a regex finds are replaced by ``censor``
    (so a card number inside a sentence is censored, the sentence kept). Both take an
    exact str, a compiled regex (``search``, so ``re.compile("pass")`` matches the key
    ``"password"``), a predicate called with the str, or a collection of these. Mapping
    keys are matched, never rewritten; an exception raised by a predicate propagates
    (but see ``strict`` below).

    :meth:`clone` never mutates its input. Every container and record it walks is
    rebuilt with its own type: a new dict, list, namedtuple, dataclass instance
    (frozen or not, ``__post_init__`` not re-run), pydantic model (``model_copy``,
    ``copy`` in v1: no validation runs, so a censored int field holds a str), attrs
    instance or plain object (``copy.copy``, then the changed attributes set). An
    object reached along two paths is cloned twice, like the renderers write it twice.
    ``clone(value, share_unchanged=True)`` copies only what leads to a change.

    A pydantic model keeps its type while everything censored in it falls on a value it
    stores (a declared field or an extra) that its dump shows as stored. A computed field
    is a property: a copy cannot be given another value for it, and would compute the
    secret again; a value a ``field_serializer`` or ``model_serializer`` rewrote would be
    rewritten again from what the copy stores. So when one of those is censored (or a
    key only a custom serializer makes, or anything in a model that cannot be copied),
    the clone is a plain dict of the model's rendered items instead:
    the names and order ``to_map`` gives (excluded fields left out, as it leaves them
    out), each with its censored clone. The secret cannot come back out.

    Limits, by design, so a log call can neither hang nor crash:

    * a reference back to a container that is being cloned (a cycle) becomes
      ``Cloner.CIRCULAR``;
    * a container or record nested more than ``max_depth`` levels deep becomes
      ``Cloner.TRUNCATED`` (the top-level value is level 1);
    * an object the Cloner cannot rebuild (``copy.copy`` fails or returns the same
      object, a constructor refuses the cloned items) comes back unchanged, the same
      object, even when something inside it matched. With ``strict=True`` such an
      object is replaced by ``censor`` as a whole when something inside it matched or
      was cut off by ``max_depth``, so a secret can never come back out; a redacting
      plugin wants that;
    * a value that cannot be inspected (reading its ``__class__``, its contents, its
      ``__hash__`` or ``__eq__`` raises, as an unbound ``LocalProxy`` does, or a
      predicate raises on it or on its key) makes ``clone`` raise, or, with
      ``strict=True``, is replaced by ``censor`` (a key that cannot be checked: its
      value), and ``needs_clone`` says true: a strict Cloner fails closed. ``on_error``,
      when given, is called with each such exception (what it raises is ignored).

    A Cloner is immutable and holds no state between calls: one instance can be used
    by many threads.
    """

    #: Written in place of a reference to a container that encloses it.
    CIRCULAR: ClassVar[str] = "[Circular]"
    #: Written in place of a container or record deeper than ``max_depth``.
    TRUNCATED: ClassVar[str] = "[Truncated]"

    __slots__ = ("censor", "max_depth", "strict", "on_error", "_key_exact", "_key_tests",
                 "_value_exact", "_value_regexes", "_value_tests", "_skip", "_repl", "_walker",
                 "_censored")
    # Set once by ``_attach_walk`` (through ``object.__setattr__``: a Cloner is immutable).
    _walker: Any  # the compiled ``_clonefast.Walker``, or None for the pure walk
    _censored: Callable[[Any], Any]

    def __init__(self, match_key: Matcher = None, match_value: Matcher = None,
                 censor: str = "[REDACTED]", *, max_depth: int = 32,
                 strict: bool = False,
                 on_error: Callable[[Exception], object] | None = None) -> None:
        if not isinstance(censor, str):
            raise TypeError(f"censor must be a str, got {type(censor).__name__}")
        if type(max_depth) is not int:
            raise TypeError(f"max_depth must be an int, got {type(max_depth).__name__}")
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be a bool, got {type(strict).__name__}")
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, got {type(on_error).__name__}")
        key_exact, key_regexes, key_tests = compile_matchers("match_key", match_key)
        value_exact, value_regexes, value_tests = compile_matchers("match_value", match_value)
        # A censored value must not match again: cloning a clone changes nothing, and
        # needs_clone() is false for data that was already censored.
        if censor in value_exact:
            raise ValueError(f"match_value matches the censor {censor!r} itself")
        for regex in value_regexes:
            if regex.search(censor):
                raise ValueError(f"match_value: the regex {regex.pattern!r} matches the "
                                 f"censor {censor!r} itself")
        self.censor = censor
        self.max_depth = max_depth
        self.strict = strict
        self.on_error = on_error
        self._key_exact = key_exact
        self._key_tests = tuple([regex.search for regex in key_regexes]) + key_tests
        self._value_exact = value_exact
        self._value_regexes = value_regexes
        self._value_tests = value_tests
        # Types the walk passes over without a look: str too when no value can match.
        self._skip = _ATOMS if (value_exact or value_regexes or value_tests) else _ATOMS | {str}
        self._repl = censor.replace("\\", "\\\\")  # literal in re.sub
        self._attach_walk()

    def _attach_walk(self) -> None:
        """Pick the walk: the compiled one when it is built, else the pure one. It is
        the last step of building a Cloner, which is immutable from then on."""
        walker = censored = None
        if _fast is not None:
            walker = _fast.Walker(self, self._check, self._clone_other,
                                  Cloner.CIRCULAR, Cloner.TRUNCATED)
            censored = walker.censored
        object.__setattr__(self, "_walker", walker)
        #: ``censored``'s implementation, for a hook to call with no frame in between.
        object.__setattr__(self, "_censored", censored or self._pure_censored)

    def __setattr__(self, name: str, value: Any) -> None:
        # The compiled walk copies the settings, and the matchers are compiled once:
        # changing one afterwards would leave the two walks disagreeing.
        if hasattr(self, "_censored"):
            raise AttributeError(f"a Cloner's settings are fixed when it is made; make a "
                                 f"new Cloner to change {name!r}")
        object.__setattr__(self, name, value)

    def __getstate__(self) -> dict[str, Any]:
        """The settings, for copy and pickle; the walk is rebuilt from them."""
        return {name: getattr(self, name) for name in _SETTINGS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in _SETTINGS:
            object.__setattr__(self, name, state[name])
        self._attach_walk()

    def __repr__(self) -> str:
        return (f"Cloner(censor={self.censor!r}, max_depth={self.max_depth}, "
                f"strict={self.strict})")

    def _reporting(self, on_error: Callable[[Exception], object] | None) -> Cloner:
        """The same Cloner but for ``on_error``: one per hook lets a plugin say which
        hook censored a value it could not inspect."""
        new = Cloner.__new__(Cloner)
        state = self.__getstate__()
        state["on_error"] = on_error
        new.__setstate__(state)
        return new

    # -- matching ----------------------------------------------------------------------

    def matches_key(self, key: object) -> bool:
        """Whether ``key`` (a mapping key or field name) is one whose value is censored."""
        if not isinstance(key, str):
            return False
        if key in self._key_exact:
            return True
        for test in self._key_tests:  # noqa: SIM110 - hot path: any() costs a generator
            if test(key):
                return True
        return False

    def _value_hit(self, text: str) -> bool:
        """Whether ``clone`` would change the str ``text``."""
        if text in self._value_exact:
            return True
        for regex in self._value_regexes:
            if regex.search(text):
                return True
        for test in self._value_tests:  # noqa: SIM110 - hot path: any() costs a generator
            if test(text):
                return True
        return False

    def _is_censor(self, value: Any) -> bool:
        return value is self.censor or (type(value) is str and value == self.censor)

    # -- the check ---------------------------------------------------------------------

    def needs_clone(self, value: Any) -> bool:
        """Whether :meth:`clone` would change anything in ``value``.

        True when a key or a str value matches (a key whose value already is the
        censor does not count), or when a cycle or a container deeper than
        ``max_depth`` would be replaced by a placeholder. Call it first and pass the
        value on as it is when it is false: that is the fast path for the common entry.
        Dicts, lists, tuples and scalars are walked without allocating anything;
        records and other containers need a short list of their fields.
        """
        if self._walker is not None:
            return self._walker.check(value)
        return self._pure_needs_clone(value)

    def _pure_needs_clone(self, value: Any) -> bool:
        try:
            if type(value) is dict:
                return self._check_dict(value, 1)
            return self._check(value, 0)
        except Exception:
            if self.strict:  # what cannot be checked is censored: the clone will say how
                return True
            raise

    def _check(self, value: Any, depth: int) -> bool:
        """``needs_clone`` for ``value`` found ``depth`` containers deep."""
        cls = type(value)
        if cls in self._skip:
            return False
        if cls is dict:
            return depth >= self.max_depth or self._check_dict(value, depth + 1)
        if cls is str or isinstance(value, str):
            return self._value_hit(value)
        if cls is list or cls is tuple:
            return depth >= self.max_depth or self._check_items(value, depth + 1)
        kind, items, _ = _contents(value, cls)
        if kind == NOT_RECORD:
            return False
        if kind == _BROKEN:
            return self.strict
        if depth >= self.max_depth:
            return True
        if kind != ITEMS:
            return self._check_fields(items, depth + 1)
        return self._check_items(items, depth + 1)

    def _check_dict(self, mapping: dict, depth: int) -> bool:
        """The hot path: the values of a plain dict ``depth`` containers deep."""
        exact = self._key_exact
        if self._key_tests or not exact.isdisjoint(mapping):
            return self._check_fields(mapping.items(), depth)
        skip = self._skip
        for item in mapping.values():
            cls = type(item)
            if cls in skip:
                continue
            if cls is dict:
                if depth >= self.max_depth or self._check_dict(item, depth + 1):
                    return True
            elif self._check(item, depth):
                return True
        return False

    def _check_items(self, items: Iterable[Any], depth: int) -> bool:
        skip = self._skip
        for item in items:  # noqa: SIM110 - hot path: any() costs a generator
            if type(item) not in skip and self._check(item, depth):
                return True
        return False

    def _check_fields(self, items: Iterable[tuple[Any, Any]], depth: int) -> bool:
        exact = self._key_exact
        tests = self._key_tests
        censor = self.censor
        skip = self._skip
        for key, item in items:
            if isinstance(key, str) and (key in exact or (tests and self.matches_key(key))):
                if item is not censor and not (type(item) is str and item == censor):
                    return True
            elif type(item) not in skip and self._check(item, depth):
                return True
        return False

    # -- the clone ---------------------------------------------------------------------

    def clone(self, value: Any, *, share_unchanged: bool = False) -> Any:
        """A deep clone of ``value`` with the censor applied; ``value`` is not changed.

        Leaves and objects that cannot be rebuilt are returned as they are; everything
        else is a new object of the same type, but a pydantic model that cannot hold its
        censored values, which becomes a dict (see the class documentation).

        With ``share_unchanged=True`` only the containers and records on the way to
        something censored are copied; everything else is shared with ``value``, and
        ``value`` itself comes back when nothing needed censoring. That is the cheap
        way to pass data on without mutating it, for a caller that will not mutate the
        result either (a plugin handing data to transports).
        """
        if self._walker is not None:
            return self._walker.clone(value, share_unchanged)
        return self._pure_clone(value, share_unchanged)

    def _pure_clone(self, value: Any, share: bool) -> Any:
        walk = _Clone(self, share)
        if type(value) is dict:
            return walk._dict(value, 0)
        return walk.run(value)

    def censored(self, value: Any) -> Any:
        """``value`` itself when nothing in it needs censoring, else
        ``clone(value, share_unchanged=True)``.

        The check and the clone in one call, for code that hands data on and does not
        mutate it (a redacting hook): the common entry costs the check alone.
        """
        return self._censored(value)

    def _pure_censored(self, value: Any) -> Any:
        if not self._pure_needs_clone(value):
            return value
        return self._pure_clone(value, True)

    def _data_changes(self, data: dict, redacted: Any) -> dict | None:
        """What a redacting data hook returns for ``data`` given ``redacted``, the
        ``censored(data)`` that is not ``data``: the top-level keys whose values
        changed, with their new values (the core merges them over the data).

        A top-level key that was itself censored (its text matched a pattern) cannot
        be renamed by a merge, so its value is censored instead. When ``redacted`` is not
        a dict of the same keys in the same order (the walk failed as a whole), every
        top-level key that cannot be proven clean on its own gets the censor: a redacting
        hook fails closed.
        """
        censor = self.censor
        if type(redacted) is dict and len(redacted) == len(data):
            try:
                changes = {}
                for (key, old), (new_key, new) in zip(data.items(), redacted.items(),
                                                      strict=True):
                    if new_key is not key:
                        changes[key] = censor
                    elif new is not old:
                        changes[key] = new
                return changes or None
            except Exception:
                pass
        changes = {}
        for key, value in list(data.items()):
            try:
                clean = not self.needs_clone({key: value})
            except Exception:
                clean = False
            if not clean and not self._is_censor(value):
                changes[key] = censor
        return changes or None

    def _clone_other(self, value: Any, depth: int, path: list[int], hits: int,
                     share: bool) -> tuple[Any, int]:
        """The compiled walk's way back here, for a shape only this module handles:
        ``value`` cloned ``depth`` containers deep with the walk's state (``path``,
        shared and updated; ``hits``), as (clone, hits)."""
        walk = _Clone(self, share)
        walk.path = path
        walk.hits = hits
        return walk.run(value, depth), walk.hits


#: The slots that make a Cloner what it is (the others are derived from them).
_SETTINGS = ("censor", "max_depth", "strict", "on_error", "_key_exact", "_key_tests",
             "_value_exact", "_value_regexes", "_value_tests", "_skip", "_repl")


class _Clone:
    """The state of one ``clone`` call: the containers on the current path (to spot
    cycles), how many censors were written (for ``strict``), and whether unchanged
    parts are shared with the input rather than copied."""

    __slots__ = ("cloner", "skip", "share", "path", "hits")

    def __init__(self, cloner: Cloner, share: bool) -> None:
        self.cloner = cloner
        self.skip = cloner._skip
        self.share = share
        self.path: list[int] = []  # a stack: ids of the containers being cloned
        self.hits = 0

    def run(self, value: Any, depth: int = 0) -> Any:
        cls = type(value)
        if cls in self.skip:
            return value
        mark = len(self.path)
        try:
            if cls is dict:
                return self._dict(value, depth)
            if cls is str or isinstance(value, str):
                return self._text(value)
            if cls is list or cls is tuple:
                key = id(value)
                if key in self.path:
                    return Cloner.CIRCULAR
                if depth >= self.cloner.max_depth:
                    self.hits += 1  # what is cut off was never inspected
                    return Cloner.TRUNCATED
                self.path.append(key)
                depth += 1
                skip = self.skip
                items = [item if type(item) in skip else self.run(item, depth)
                         for item in value]
                self.path.pop()
                if self.share and _all_same(items, value):
                    return value
                return items if cls is list else tuple(items)
            return self._other(value, cls, depth)
        except Exception as exc:
            # Inspecting ``value`` raised (its ``__class__``, ``__hash__`` or ``__eq__``, an
            # unbound proxy, a predicate): strict, it is censored, as it was never checked.
            del self.path[mark:]
            if not self.cloner.strict:
                raise
            return self._failed(exc)

    def _dict(self, value: dict, depth: int) -> Any:
        """The hot path of ``run``: a plain dict."""
        key = id(value)
        path = self.path
        if key in path:
            return Cloner.CIRCULAR
        cloner = self.cloner
        if depth >= cloner.max_depth:
            self.hits += 1
            return Cloner.TRUNCATED
        mark = len(path)
        path.append(key)
        depth += 1
        skip = self.skip
        exact = cloner._key_exact
        tests = cloner._key_tests
        share = self.share
        # When sharing, the copy is made at the first change, and only then.
        result: dict | None = None if share else {}
        try:
            for name, item in value.items():
                try:
                    hit = (isinstance(name, str)
                           and (name in exact or (tests and cloner.matches_key(name))))
                except Exception as exc:  # a key that cannot be checked: its value is censored
                    if not cloner.strict:
                        raise
                    self._report(exc)
                    hit = True
                if hit:
                    if cloner._is_censor(item):
                        new = item
                    else:
                        self.hits += 1
                        new = cloner.censor
                else:
                    cls = type(item)
                    if cls in skip:
                        new = item
                    elif cls is dict:
                        new = self._dict(item, depth)
                    else:
                        new = self.run(item, depth)
                if new is not item or not share:
                    if result is None:
                        result = dict(value)
                    result[name] = new
        except Exception as exc:  # iterating the dict failed (another thread resized it...)
            del path[mark:]
            if not cloner.strict:
                raise
            return self._failed(exc)
        path.pop()
        return value if result is None else result

    def _other(self, value: Any, cls: type, depth: int) -> Any:
        """Everything but str, dict, list and tuple: leaves, other containers, records."""
        kind, items, record = _contents(value, cls)
        if kind == NOT_RECORD:
            return value
        cloner = self.cloner
        if kind == _BROKEN:  # reading its contents raised: as it is, or censored when strict
            return self._failed(items) if cloner.strict else value
        key = id(value)
        if key in self.path:
            return Cloner.CIRCULAR
        if depth >= cloner.max_depth:
            self.hits += 1
            return Cloner.TRUNCATED
        before = self.hits
        self.path.append(key)
        depth += 1
        pairs = kind != ITEMS
        censored: AbstractSet[Any] = _NOTHING
        if record is not None and record.stored is not None:  # a pydantic model
            # Which pairs had something censored: a model keeps its type only when it
            # can hold those.
            censored = set()
            cloned = []
            for index, (name, item) in enumerate(items):
                hits = self.hits
                cloned.append((name, self._pair(name, item, depth)))
                if self.hits != hits:
                    censored.add(index)
        elif pairs:
            cloned = [(name, self._pair(name, item, depth)) for name, item in items]
        else:
            cloned = [self.run(item, depth) for item in items]
        self.path.pop()
        if self.share and (_all_same([new for _, new in cloned], [old for _, old in items])
                           if pairs else _all_same(cloned, items)):
            return value
        try:
            result = _rebuild(value, cls, kind, items, cloned, record, censored)
        except Exception:
            result = _UNSET
        if result is _UNSET:  # cannot be rebuilt: as it is, or censored when strict
            return cloner.censor if (cloner.strict and self.hits != before) else value
        return result

    def _failed(self, exc: Exception) -> str:
        """The censor, in place of a value whose inspection raised ``exc`` (strict)."""
        self.hits += 1
        self._report(exc)
        return self.cloner.censor

    def _report(self, exc: Exception) -> None:
        """Pass ``exc`` to the Cloner's ``on_error``, which must not stop the walk."""
        report = self.cloner.on_error
        if report is not None:
            with contextlib.suppress(Exception):
                report(exc)

    def _text(self, text: str) -> str:
        cloner = self.cloner
        if text in cloner._value_exact:
            self.hits += 1
            return cloner.censor
        for test in cloner._value_tests:
            if test(text):
                self.hits += 1
                return cloner.censor
        result = text
        for regex in cloner._value_regexes:
            result = regex.sub(cloner._repl, result)
        if result == text:
            return text  # the very same object, so an unchanged str is shared
        self.hits += 1
        return result

    def _pair(self, key: Any, item: Any, depth: int) -> Any:
        """The clone of ``item``, or the censor when ``key`` matches (or, strict, when
        matching it raised)."""
        cloner = self.cloner
        try:
            hit = cloner.matches_key(key)
        except Exception as exc:
            if not cloner.strict:
                raise
            self._report(exc)
            hit = True
        if hit:
            if cloner._is_censor(item):
                return item
            self.hits += 1
            return cloner.censor
        return self.run(item, depth)


def _all_same(new: Iterable[Any], old: Iterable[Any]) -> bool:
    """Whether the two sequences hold the very same objects, in order."""
    # ``new`` was made from ``old``, item for item; ``old`` is the caller's container, so
    # not strict: one that another thread resized meanwhile must not make the log call fail.
    return all(a is b for a, b in zip(new, old, strict=False))


def _rebuild(value: Any, cls: type[Any], kind: int, items: Any, cloned: list,
             record: Fields | None, censored: AbstractSet[Any]) -> Any:
    """A new ``cls`` holding the cloned contents, or ``_UNSET`` when that cannot be done.

    ``items`` are the contents ``_contents`` gave, ``cloned`` their clones in the same
    order: (key, value) pairs for mappings and records, values otherwise; ``record`` is
    what ``_records.fields`` said of a record, ``censored`` the indexes of a model's
    pairs that had something censored.
    """
    if kind == MAPPING:
        items = dict(cloned)
        if cls is dict:
            return items
        if cls is types.MappingProxyType:
            return types.MappingProxyType(items)
        if isinstance(value, dict):  # a subclass: copy.copy keeps its state (default_factory...)
            new = _copy(value, cls)
            if new is not _UNSET:
                new.clear()
                new.update(items)
            return new
        return _same_type(cls(items), cls)
    if kind == ITEMS:
        if cls is list:
            return cloned
        if cls is tuple:
            return tuple(cloned)
        if cls is set:
            return set(cloned)
        if cls is frozenset:
            return frozenset(cloned)
        if isinstance(value, list):
            new = _copy(value, cls)
            if new is not _UNSET:
                new[:] = cloned
            return new
        return _same_type(cls(cloned), cls)
    if kind == NAMEDTUPLE:
        return _same_type(cls._make([item for _, item in cloned]), cls)
    if record is not None and record.stored is not None:  # a pydantic model
        return _rebuild_model(value, cls, kind, record, items, cloned, censored)
    changes = {name: new for (name, old), (_, new) in zip(items, cloned, strict=True)
               if new is not old}
    new = _copy(value, cls)
    if new is not _UNSET:
        for name, item in changes.items():
            object.__setattr__(new, name, item)
    return new


def _rebuild_model(value: Any, cls: type, kind: int, record: Fields, items: Any,
                   cloned: list, censored: AbstractSet[int]) -> Any:
    """A pydantic model's copy holding the clones of what it stores, when nothing was
    censored in a derived pair (one that holds what the dump rendered, not what the
    model stores); else, when something was censored, a dict of its rendered items,
    censored (see ``Cloner``). A derived value is never written back: the copy would
    render it again from what it stores."""
    derived = record.derived
    if censored.isdisjoint(derived):
        stored = record.stored or frozenset()
        update = {}
        for index, ((name, old), (_, new)) in enumerate(zip(items, cloned, strict=True)):
            if new is not old and index not in derived and name in stored:
                update[name] = new
        try:
            new = (value.model_copy(update=update) if kind == PYDANTIC2
                   else value.copy(update=update))
        except Exception:
            new = _UNSET
        if type(new) is cls:
            return new
    if not censored:
        return _UNSET
    return dict(cloned[:record.shown])


def _copy(value: Any, cls: type) -> Any:
    """``copy.copy(value)``, or ``_UNSET`` unless that gave a distinct ``cls`` object."""
    new = copy.copy(value)
    return new if (new is not value and type(new) is cls) else _UNSET


def _same_type(new: Any, cls: type) -> Any:
    """``new``, or ``_UNSET`` when rebuilding gave an object of another type."""
    return new if type(new) is cls else _UNSET


def _contents(value: Any, cls: type) -> tuple[int, Any, Fields | None]:
    """(kind, contents, fields) of a value that is not a str nor one of ``_ATOMS``.

    The contents are (key, value) pairs for mappings and records, the items for
    sequences and sets, None for a leaf (``NOT_RECORD``); ``fields`` is what
    ``_records.fields`` says of a record, None for the others. A value whose contents
    fail to be read (a property that raises, a broken ``__iter__``) is ``_BROKEN``, with
    the exception as its contents: a leaf the walk passes on as it is, or censors when
    strict, as it could not be checked.
    """
    if cls is dict:
        return MAPPING, value.items(), None
    if cls is list or cls is tuple or cls is set or cls is frozenset:
        return ITEMS, value, None
    try:
        kind = kind_of(cls)
        if kind == NOT_RECORD:
            return kind, None, None
        if kind == MAPPING:
            return kind, list(value.items()), None
        if kind == ITEMS:
            return kind, list(value), None
        record = fields(value, kind)
        return kind, record.pairs, record
    except Exception as exc:
        return _BROKEN, exc, None
