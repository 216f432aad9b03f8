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
with no public attributes...) is a leaf, returned as the very same object unless its
text matches a value matcher (see ``Cloner``).

This module is the definition of the walk. When the compiled fast path
(``loglayer.utils._clonefast``) is built, it takes the plain dicts, lists, tuples, str
and scalars, and hands every other shape back to the functions here, with the same
state; ``LOGLAYER_NO_EXTENSIONS=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import copy
import enum
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
# The types never walked when values are matched: every other value is written as text
# somewhere (a number by its digits), so that text is matched.
_QUIET = frozenset([bool, type(None)])

#: At most this many clean str keys and ints are remembered per Cloner (then it starts
#: over): keys, status codes and counts repeat from entry to entry.
_MAX_CLEAN_TEXTS = 4096

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
    ``"password"``), a predicate called with the str, or a collection of these. An
    exception raised by a predicate propagates (but see ``strict`` below).

    ``match_value`` is applied to the text a transport writes, not only to str values:

    * every value but a str, a container, a bool or None is matched by its text
      (``str()``, ``repr()`` for bytes): ints and floats by their digits, ``Decimal``,
      ``Path``, ``UUID``, dates, exceptions, objects with their own ``__str__``; one that
      matches becomes its censored text (a str). An enum member is matched by its value
      (what JSON writes) and by its text;
    * a record (not a plain dict) is matched by its ``str()`` too, once its fields are
      censored, as a record nested in other data is written as that text; when that
      still matches, the record becomes its censored text;
    * mapping keys and field names are matched by their text: a matching key is renamed
      to its censored text (`` (2)``, `` (3)``... when that text is taken), so the
      mapping becomes a dict, and a record the dict of its rendered items.

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

    A Cloner is immutable and holds no state between calls but a bounded memory of the
    str keys and ints whose text matched no value matcher, which saves matching them
    again and never changes a result: one instance can be used by many threads.
    """

    #: Written in place of a reference to a container that encloses it.
    CIRCULAR: ClassVar[str] = "[Circular]"
    #: Written in place of a container or record deeper than ``max_depth``.
    TRUNCATED: ClassVar[str] = "[Truncated]"

    __slots__ = ("censor", "max_depth", "strict", "on_error", "_key_exact", "_key_tests",
                 "_value_exact", "_value_regexes", "_value_tests", "_skip", "_repl", "_walker",
                 "_censored", "_texts", "_clean_texts")
    # Set once by ``_attach_walk`` (through ``object.__setattr__``: a Cloner is immutable).
    _walker: Any  # the compiled ``_clonefast.Walker``, or None for the pure walk
    _censored: Callable[[Any], Any]
    _texts: bool  # whether values are matched, so texts (keys, numbers...) are checked
    _clean_texts: set[str | int]  # str keys and ints whose text no value matcher matches

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
        self.censor: str = censor
        self.max_depth: int = max_depth
        self.strict: bool = strict
        self.on_error: Callable[[Exception], object] | None = on_error
        self._key_exact = key_exact
        self._key_tests = tuple([regex.search for regex in key_regexes]) + key_tests
        self._value_exact = value_exact
        self._value_regexes = value_regexes
        self._value_tests = value_tests
        # Types the walk passes over without a look: when no value can match, numbers,
        # bytes and str; else only what is never written as matchable text.
        self._skip = _QUIET if (value_exact or value_regexes or value_tests) else _ATOMS | {str}
        self._repl = censor.replace("\\", "\\\\")  # literal in re.sub
        self._attach_walk()

    def _attach_walk(self) -> None:
        """Pick the walk: the compiled one when it is built, else the pure one. It is
        the last step of building a Cloner, which is immutable from then on."""
        walker = censored = None
        object.__setattr__(self, "_texts", str not in self._skip)
        # A str key or an int checked against the value matchers is remembered when clean,
        # as they repeat from entry to entry; predicates may not be pure, so not with those.
        object.__setattr__(self, "_clean_texts", set())
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
        if cls is int or cls is float:  # only here when values are matched: its digits
            return self._number_hit(value)
        kind, items, _ = _contents(value, cls)
        if kind == NOT_RECORD:
            return self._texts and self._leaf_hit(value, depth)
        if kind == _BROKEN:
            return self.strict
        if depth >= self.max_depth:
            return True
        if kind != ITEMS:
            if self._check_fields(items, depth + 1):
                return True
            return kind != MAPPING and self._texts and self._text_hit(value, cls)
        return self._check_items(items, depth + 1)

    def _leaf_hit(self, value: Any, depth: int) -> bool:
        """Whether the text a leaf is written as (or, for an enum member, its value)
        matches a value matcher."""
        if isinstance(value, enum.Enum) and self._check(value.value, depth):
            return True
        text = _text_of(value)
        return text is not None and self._value_hit(text)

    def _text_hit(self, value: Any, cls: type) -> bool:
        """Whether a record's own ``str()``, which renderers write when it is nested in
        other data, matches a value matcher (only a class with its own text is asked)."""
        if not _has_own_text(cls):
            return False
        text = _text_of(value)
        return text is not None and self._value_hit(text)

    def _number_hit(self, value: int | float) -> bool:
        """Whether the digits of an int or a float match a value matcher."""
        if type(value) is int:
            if value in self._clean_texts:
                return False
            if self._value_hit(str(value)):
                return True
            self._remember(value)
            return False
        return self._value_hit(str(value))

    def _remember(self, clean: str | int) -> None:
        """Remember a str key or an int whose text matched no value matcher."""
        if not self._value_tests:
            texts = self._clean_texts
            if len(texts) >= _MAX_CLEAN_TEXTS:
                texts.clear()
            texts.add(clean)

    def _key_hit_text(self, key: Any) -> bool:
        """Whether the text of the mapping key ``key`` matches a value matcher."""
        if type(key) is str:
            if key in self._clean_texts:
                return False
            if self._value_hit(key):
                return True
            self._remember(key)
            return False
        text = _text_of(key)
        return text is not None and self._value_hit(text)

    def _check_dict(self, mapping: dict, depth: int) -> bool:
        """The hot path: the values of a plain dict ``depth`` containers deep."""
        exact = self._key_exact
        if self._key_tests or self._texts or not exact.isdisjoint(mapping):
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
        texts = self._texts
        for key, item in items:
            if texts and self._key_hit_text(key):
                return True
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
            if cls is int or cls is float:  # only here when values are matched: its digits
                if not self.cloner._number_hit(value):
                    return value
                return self._text(str(value))
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
        texts = cloner._texts
        renames: dict[int, str] | None = None  # position -> censored text of the key
        # When sharing, the copy is made at the first change, and only then.
        result: dict | None = None if share else {}
        try:
            for index, (name, item) in enumerate(value.items()):
                if texts:
                    renamed = self._key(name)
                    if renamed is not None:
                        if renames is None:
                            renames = {}
                        renames[index] = renamed
                        if result is None:
                            result = dict(value)
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
            if renames is not None and result is not None:
                result = _renamed(list(result.items()), renames)
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
        cloner = self.cloner
        if kind == NOT_RECORD:
            return self._leaf(value, depth) if cloner._texts else value
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
        renames: dict[int, str] = {}  # position -> censored text of the key or name
        if pairs:
            # Which pairs had something censored: a pydantic model keeps its type only
            # when it can hold those.
            model = record is not None and record.stored is not None
            censored = set()
            cloned = []
            for index, (name, item) in enumerate(items):
                hits = self.hits
                if cloner._texts:
                    renamed = self._key(name)
                    if renamed is not None:
                        renames[index] = renamed
                cloned.append((name, self._pair(name, item, depth)))
                if model and self.hits != hits:
                    censored.add(index)
        else:
            cloned = [self.run(item, depth) for item in items]
        self.path.pop()
        result: Any
        if renames:  # a key or name that is itself a secret: the rendered items, renamed
            shown = len(cloned) if record is None else record.shown
            result = _renamed(cloned[:shown], renames)
        elif self.share and (_all_same([new for _, new in cloned], [old for _, old in items])
                             if pairs else _all_same(cloned, items)):
            result = value
        else:
            try:
                result = _rebuild(value, cls, kind, items, cloned, record, censored)
            except Exception:
                result = _UNSET
            if result is _UNSET:  # cannot be rebuilt: as it is, or censored when strict
                return cloner.censor if (cloner.strict and self.hits != before) else value
        if cloner._texts and kind >= NAMEDTUPLE and (result is value or type(result) is cls):
            # Nested in other data a record is written as its str(): that text is checked
            # too, on what is left once its fields are censored.
            text = _text_of(result) if _has_own_text(cls) else None
            if text is not None:
                new = self._text(text)
                if new is not text:
                    return new
        return result

    def _leaf(self, value: Any, depth: int) -> Any:
        """A leaf, when values are matched: the censored text it is written as when that
        matches (for an enum member, first its value, which JSON writes), else itself."""
        if isinstance(value, enum.Enum):
            inner = value.value
            new = self.run(inner, depth)
            if new is not inner:
                return new
        text = _text_of(value)
        if text is None:
            return value
        new = self._text(text)
        return value if new is text else new

    def _key(self, key: Any) -> str | None:
        """The censored text of the mapping key or field name ``key`` when its text
        matches a value matcher, else None."""
        cloner = self.cloner
        if type(key) is str:
            if key in cloner._clean_texts:
                return None
            new = self._text(key)
            if new is not key:
                return new
            cloner._remember(key)
            return None
        text = _text_of(key)
        if text is None:
            return None
        new = self._text(text)
        return None if new is text else new

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


def _renamed(pairs: list[tuple[Any, Any]], renames: dict[int, str]) -> dict:
    """A dict of ``pairs`` in their order, the key at each position in ``renames``
    replaced by that text; a text already taken gets `` (2)``, `` (3)``... so no item
    is lost."""
    taken = {key for index, (key, _) in enumerate(pairs) if index not in renames}
    result: dict = {}
    for index, (key, item) in enumerate(pairs):
        new = renames.get(index)
        if new is not None:
            key, count = new, 2
            while key in taken or key in result:
                key = f"{new} ({count})"
                count += 1
        result[key] = item
    return result


def _text_of(value: Any) -> str | None:
    """The text a renderer writes for ``value`` (``str()``; ``repr()`` for bytes), or
    None when it cannot be had (a renderer then writes a placeholder, not the value)."""
    try:
        text = repr(value) if type(value) in (bytes, bytearray) else str(value)
    except Exception:
        return None
    return text if type(text) is str else str.__str__(text)


def _has_own_text(cls: type) -> bool:
    """Whether ``str()`` of a ``cls`` instance says more than its type and address."""
    return cls.__str__ is not object.__str__ or cls.__repr__ is not object.__repr__


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
