"""Tests of loglayer._errorfmt: stdlib-identical text, chains, robustness, caching."""

from __future__ import annotations

import re
import sys
import threading
import traceback

import pytest

from loglayer import _errorfmt
from loglayer._errorfmt import format_traceback, serialize_error

# 3.11+ draws "~~~^^^" under source lines; _errorfmt never does.  A caret line holds at
# least one ~ or ^ (blank lines inside chain separators must stay).
_CARET_LINE = re.compile(r"^[ \t~^]*[~^][ \t~^]*\n", re.MULTILINE)


def stdlib_text(exc: BaseException, *, chain: bool = True) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=chain))
    return _CARET_LINE.sub("", text)


def caught(func, *args):
    try:
        func(*args)
    except BaseException as exc:  # noqa: B036 - the tests want any exception object
        return exc
    raise AssertionError("did not raise")


class MyError(Exception):
    pass


class Outer:
    class InnerError(LookupError):
        pass


# -- helpers raising through several frames (each raise on one line, see 3.13 note) ------


def level1(value):
    return level2(value) + 1


def level2(value):
    return level3(value) * 2


def level3(value):
    data = {"key": value}
    return level4(data)


def level4(data):
    return data["key"] / 0


def raise_custom():
    raise MyError("custom failure")


def raise_from(cause_func):
    try:
        cause_func()
    except Exception as exc:
        raise RuntimeError("wrapper") from exc


def raise_during_handling():
    try:
        level1(3)
    except ZeroDivisionError:
        raise KeyError("while handling")  # noqa: B904 - implicit context is the point


def raise_from_none():
    try:
        level1(3)
    except ZeroDivisionError:
        raise ValueError("clean") from None


def recurse(n):
    if n == 0:
        raise RecursionError("bottom")
    return recurse(n - 1)


@pytest.fixture(autouse=True)
def _fresh_caches():
    _errorfmt._frame_cache.clear()
    _errorfmt._type_cache.clear()
    yield
    _errorfmt._frame_cache.clear()
    _errorfmt._type_cache.clear()


# -- matching the standard library ------------------------------------------------------


def test_traceback_matches_stdlib_through_several_frames():
    exc = caught(level1, 5)
    data = serialize_error(exc)
    assert data["type"] == "ZeroDivisionError"
    assert data["message"] == "division by zero"
    assert data["traceback"] == stdlib_text(exc, chain=False)
    assert data["traceback"].startswith("Traceback (most recent call last):\n")
    assert data["traceback"].endswith("ZeroDivisionError: division by zero\n")
    assert '    return data["key"] / 0\n' in data["traceback"]
    assert "^" not in data["traceback"] and "~" not in data["traceback"]
    assert "cause" not in data
    assert format_traceback(exc) == stdlib_text(exc)


def test_frame_lines_have_the_stdlib_shape():
    exc = caught(level1, 5)
    lines = serialize_error(exc)["traceback"].splitlines()
    frames = [line for line in lines if line.startswith('  File "')]
    assert [line.rsplit(" in ", 1)[1] for line in frames] == [
        "caught",
        "level1",
        "level2",
        "level3",
        "level4",
    ]
    assert all(f'"{__file__}"' in line for line in frames)
    code_lines = [line for line in lines if line.startswith("    ")]
    assert code_lines[-1] == '    return data["key"] / 0'


def test_message_empty_gives_bare_type_line():
    def bare():
        raise ValueError

    exc = caught(bare)
    data = serialize_error(exc)
    assert data["message"] == ""
    assert data["traceback"].endswith("\nValueError\n")
    assert data["traceback"] == stdlib_text(exc, chain=False)


def test_deep_recursion_is_collapsed_like_stdlib():
    exc = caught(recurse, 12)
    text = serialize_error(exc)["traceback"]
    assert text == stdlib_text(exc, chain=False)
    assert "  [Previous line repeated 9 more times]\n" in text


def test_repeated_once_more_is_singular():
    exc = caught(recurse, 4)
    text = serialize_error(exc)["traceback"]
    assert text == stdlib_text(exc, chain=False)
    assert "  [Previous line repeated 1 more time]\n" in text


def test_syntax_error_uses_stdlib_exception_lines():
    exc = caught(compile, "x = (1,\n", "<snippet>", "exec")
    assert isinstance(exc, SyntaxError)
    data = serialize_error(exc)
    assert data["type"] == "SyntaxError"
    only = "".join(traceback.format_exception_only(type(exc), exc))
    assert "^" in only  # the SyntaxError's own caret line is kept
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    expected = "Traceback (most recent call last):\n" + _CARET_LINE.sub("", frames) + only
    assert data["traceback"] == expected
    assert format_traceback(exc) == expected


@pytest.mark.skipif(sys.version_info < (3, 11), reason="add_note is 3.11+")
def test_notes_follow_the_final_line_like_stdlib():
    exc = caught(level1, 1)
    exc.add_note("first note")
    exc.add_note("second\nnote")
    data = serialize_error(exc)
    assert data["message"] == "division by zero"
    assert data["traceback"].endswith(
        "ZeroDivisionError: division by zero\nfirst note\nsecond\nnote\n"
    )
    assert data["traceback"] == stdlib_text(exc, chain=False)


# -- chains -----------------------------------------------------------------------------


def test_explicit_cause():
    exc = caught(raise_from, raise_custom)
    data = serialize_error(exc)
    assert data["type"] == "RuntimeError"
    assert data["message"] == "wrapper"
    assert data["traceback"] == stdlib_text(exc, chain=False)
    cause = data["cause"]
    assert cause["type"] == f"{__name__}.MyError"
    assert cause["message"] == "custom failure"
    assert cause["traceback"] == stdlib_text(exc.__cause__, chain=False)
    assert "cause" not in cause

    text = format_traceback(exc)
    assert text == stdlib_text(exc)
    assert "\nThe above exception was the direct cause of the following exception:\n\n" in text


def test_implicit_context():
    exc = caught(raise_during_handling)
    data = serialize_error(exc)
    assert data["type"] == "KeyError"
    assert data["message"] == "'while handling'"
    assert data["cause"]["type"] == "ZeroDivisionError"
    assert data["cause"]["traceback"] == stdlib_text(exc.__context__, chain=False)

    text = format_traceback(exc)
    assert text == stdlib_text(exc)
    assert "\nDuring handling of the above exception, another exception occurred:\n\n" in text


def test_from_none_suppresses_context():
    exc = caught(raise_from_none)
    assert exc.__context__ is not None
    data = serialize_error(exc)
    assert "cause" not in data
    assert format_traceback(exc) == stdlib_text(exc)
    assert "During handling" not in format_traceback(exc)


def test_three_level_mixed_chain_matches_stdlib():
    def outer():
        try:
            raise_from(raise_during_handling)
        except RuntimeError:
            raise OSError("outermost")  # noqa: B904

    exc = caught(outer)
    data = serialize_error(exc)
    assert [data["type"], data["cause"]["type"], data["cause"]["cause"]["type"]] == [
        "OSError",
        "RuntimeError",
        "KeyError",
    ]
    assert data["cause"]["cause"]["cause"]["type"] == "ZeroDivisionError"
    assert format_traceback(exc) == stdlib_text(exc)


def _depth(data):
    depth = 0
    while "cause" in data:
        data = data["cause"]
        depth += 1
    return depth


def test_long_chain_is_capped():
    excs = [ValueError(f"e{i}") for i in range(30)]
    for newer, older in zip(excs, excs[1:], strict=False):
        newer.__cause__ = older
    data = serialize_error(excs[0])
    assert _depth(data) == _errorfmt.MAX_CHAIN_DEPTH
    innermost = data
    while "cause" in innermost:
        innermost = innermost["cause"]
    assert innermost["message"] == f"e{_errorfmt.MAX_CHAIN_DEPTH}"

    text = format_traceback(excs[0])
    assert text.startswith("[earlier chained exceptions omitted]\n")
    assert text.endswith("ValueError: e0\n")
    assert f"ValueError: e{_errorfmt.MAX_CHAIN_DEPTH}\n" in text
    assert f"ValueError: e{_errorfmt.MAX_CHAIN_DEPTH + 1}\n" not in text


def test_chain_of_exactly_the_cap_is_not_marked_truncated():
    excs = [ValueError(f"e{i}") for i in range(_errorfmt.MAX_CHAIN_DEPTH + 1)]
    for newer, older in zip(excs, excs[1:], strict=False):
        newer.__cause__ = older
    assert _depth(serialize_error(excs[0])) == _errorfmt.MAX_CHAIN_DEPTH
    assert format_traceback(excs[0]) == stdlib_text(excs[0])


def test_context_cycle_terminates():
    e1 = ValueError("one")
    e2 = TypeError("two")
    e1.__context__ = e2
    e2.__context__ = e1
    data = serialize_error(e1)
    assert data["type"] == "ValueError"
    assert data["cause"]["type"] == "TypeError"
    assert "cause" not in data["cause"]
    text = format_traceback(e1)
    assert text == stdlib_text(e1)
    assert "omitted" not in text


def test_self_cause_terminates():
    exc = ValueError("me")
    exc.__cause__ = exc
    assert serialize_error(exc) == {"type": "ValueError", "message": "me"}
    assert format_traceback(exc) == "ValueError: me\n"


def test_long_cycle_with_tracebacks_terminates():
    excs = [caught(raise_custom) for _ in range(3)]
    for newer, older in zip(excs, excs[1:] + excs[:1], strict=True):
        newer.__context__ = older
    data = serialize_error(excs[0])
    assert _depth(data) == 2
    assert format_traceback(excs[0]) == stdlib_text(excs[0])


# -- never raising ----------------------------------------------------------------------


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")


class NonStrStr(Exception):
    def __str__(self):
        return 42  # type: ignore[return-value]


class InterruptingStr(Exception):
    def __str__(self):
        raise KeyboardInterrupt


class StrSubclass(str):
    pass


class FancyStr(Exception):
    def __str__(self):
        return StrSubclass("fancy")


def test_raising_str_gets_a_placeholder():
    def boom():
        raise BadStr("ignored")

    exc = caught(boom)
    data = serialize_error(exc)
    assert data["type"] == f"{__name__}.BadStr"
    assert data["message"] == "<exception str() failed: RuntimeError>"
    assert data["traceback"].endswith(
        f"{__name__}.BadStr: <exception str() failed: RuntimeError>\n"
    )
    assert format_traceback(exc).endswith("<exception str() failed: RuntimeError>\n")


def test_non_str_str_gets_a_placeholder():
    data = serialize_error(NonStrStr())
    assert data == {
        "type": f"{__name__}.NonStrStr",
        "message": "<exception str() failed: TypeError>",
    }


def test_str_raising_base_exception_is_contained():
    data = serialize_error(InterruptingStr())
    assert data["message"] == "<exception str() failed: KeyboardInterrupt>"


def test_str_subclass_message_becomes_plain_str():
    data = serialize_error(FancyStr())
    assert data["message"] == "fancy"
    assert type(data["message"]) is str


class Unprintable:
    def __str__(self):
        raise ValueError("nope")

    def __repr__(self):
        raise ValueError("nope")


@pytest.mark.parametrize(
    "exc",
    [
        KeyboardInterrupt(),
        SystemExit(3),
        GeneratorExit(),
        StopIteration(object()),
        ValueError(Unprintable()),
        ValueError(Unprintable(), Unprintable()),
        OSError(2, "No such file", "/nope"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        KeyError(None),
        Exception(*range(100)),
        BadStr(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_never_raises_for_odd_instances(exc):
    data = serialize_error(exc)
    assert set(data) == {"type", "message"}
    assert isinstance(data["type"], str) and isinstance(data["message"], str)
    assert isinstance(format_traceback(exc), str)


def test_keyboard_interrupt_with_traceback():
    def interrupt():
        raise KeyboardInterrupt

    exc = caught(interrupt)
    data = serialize_error(exc)
    assert data["type"] == "KeyboardInterrupt"
    assert data["traceback"] == stdlib_text(exc, chain=False)


class BrokenChain(Exception):
    @property
    def __cause__(self):
        raise RuntimeError("broken property")

    @property
    def __traceback__(self):
        raise RuntimeError("broken property")


def test_broken_chain_attributes_do_not_escape():
    exc = BrokenChain("still here")
    data = serialize_error(exc)
    assert data == {"type": f"{__name__}.BrokenChain", "message": "still here"}
    assert "still here" in format_traceback(exc)


def test_non_exception_argument_does_not_raise():
    data = serialize_error("not an exception")  # type: ignore[arg-type]
    assert data["message"] == "not an exception"
    assert isinstance(format_traceback(None), str)  # type: ignore[arg-type]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are 3.11+")
def test_exception_group():
    def group():
        raise ExceptionGroup("several", [ValueError("a"), caught(raise_custom)])  # noqa: F821

    exc = caught(group)
    data = serialize_error(exc)
    assert data["type"] == "ExceptionGroup"
    assert data["message"] == "several (2 sub-exceptions)"
    assert data["traceback"].endswith("ExceptionGroup: several (2 sub-exceptions)\n")
    text = format_traceback(exc)
    assert "ValueError: a" in text
    assert "custom failure" in text


# -- names ------------------------------------------------------------------------------


def test_type_names():
    assert serialize_error(ValueError("x"))["type"] == "ValueError"
    assert serialize_error(MyError("x"))["type"] == f"{__name__}.MyError"
    assert serialize_error(Outer.InnerError("x"))["type"] == f"{__name__}.Outer.InnerError"

    in_main = type("MainError", (Exception,), {"__module__": "__main__"})
    assert serialize_error(in_main("x"))["type"] == "MainError"

    odd_module = type("OddModuleError", (Exception,), {"__module__": 123})
    assert serialize_error(odd_module("x"))["type"] == "<unknown>.OddModuleError"

    assert _errorfmt._type_cache[MyError][0] == f"{__name__}.MyError"


def test_exception_never_raised_has_no_traceback():
    exc = MyError("never raised")
    data = serialize_error(exc)
    assert data == {"type": f"{__name__}.MyError", "message": "never raised"}
    assert format_traceback(exc) == f"{__name__}.MyError: never raised\n"
    assert format_traceback(exc) == stdlib_text(exc)


# -- caching ----------------------------------------------------------------------------


def test_frame_cache_is_used():
    exc1 = caught(level1, 1)
    first = serialize_error(exc1)
    size = len(_errorfmt._frame_cache)
    assert size == 5  # caught, level1..level4

    exc2 = caught(level1, 2)  # a new exception from the same locations
    assert exc2 is not exc1
    assert serialize_error(exc2) == first
    assert len(_errorfmt._frame_cache) == size

    # Cached entries are what gets joined: poison one and see it come back.
    code = level4.__code__
    key = next(k for k, v in _errorfmt._frame_cache.items() if v[0] is code)
    _errorfmt._frame_cache[key] = (code, "  <cached>\n")
    assert "  <cached>\n" in serialize_error(caught(level1, 3))["traceback"]


def test_cache_entry_for_another_code_object_is_not_used():
    exc = caught(level1, 1)
    serialize_error(exc)
    code = level4.__code__
    key = next(k for k, v in _errorfmt._frame_cache.items() if v[0] is code)
    # Same key but a different code object stored (as after id reuse): re-rendered.
    _errorfmt._frame_cache[key] = (level1.__code__, "  <wrong>\n")
    assert "<wrong>" not in serialize_error(exc)["traceback"]
    assert _errorfmt._frame_cache[key][0] is code


def test_frame_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_errorfmt, "_FRAME_CACHE_MAX", 3)
    exc = caught(level1, 1)
    assert serialize_error(exc)["traceback"] == stdlib_text(exc, chain=False)
    assert len(_errorfmt._frame_cache) <= 3
    assert serialize_error(exc)["traceback"] == stdlib_text(exc, chain=False)


def test_type_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_errorfmt, "_TYPE_CACHE_MAX", 2)
    for tp in (ValueError, TypeError, KeyError, MyError):
        serialize_error(tp("x"))
    assert len(_errorfmt._type_cache) <= 2


def test_concurrent_use_with_cache_churn(monkeypatch):
    monkeypatch.setattr(_errorfmt, "_FRAME_CACHE_MAX", 4)
    excs = [caught(level1, 1), caught(raise_from, raise_custom), caught(recurse, 6)]
    expected = [serialize_error(exc) for exc in excs]
    failures = []

    def work():
        for _ in range(300):
            for exc, want in zip(excs, expected, strict=True):
                if serialize_error(exc) != want:
                    failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
