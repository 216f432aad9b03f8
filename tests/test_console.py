"""ConsoleTransport and render_console: the exact line, escaping, colours, tracebacks."""

from __future__ import annotations

import dataclasses
import io
import sys
import time

import pytest

from loglayer import ConsoleTransport, LogEntry, LogLayer, LogLevel, Multiline
from loglayer._render_py import ConsoleFormat, render_console

# 2023-11-14T22:13:20.123456789Z
T = 1_700_000_000_123_456_789

DIM, RESET, CYAN, GREEN, RED = "\x1b[2m", "\x1b[0m", "\x1b[36m", "\x1b[32m", "\x1b[31m"


def entry(level=LogLevel.INFO, messages=("hello",), data=None, metadata=None, error=None,
          prefix=None, time_ns=T, metadata_key=None):
    return LogEntry(level, list(messages), {} if data is None else data, metadata, error, {},
                    None, prefix, time_ns, metadata_key)


def render(e, colors=False, show_time=False, error_key="err"):
    return render_console(e, ConsoleFormat(colors, show_time, error_key))


def local_clock(time_ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(time_ns // 10**9)) + \
        f".{time_ns // 10**6 % 1000:03d}"


def console(**kwargs):
    out = io.StringIO()
    kwargs.setdefault("colors", False)
    kwargs.setdefault("show_time", False)
    return LogLayer(transports=ConsoleTransport(out, **kwargs)), out


class Recorder:
    def __init__(self, tty=False):
        self.writes = []
        self._tty = tty

    def write(self, data):
        self.writes.append(data)

    def isatty(self):
        return self._tty


# -- layout ---------------------------------------------------------------------------


def test_golden_plain_line():
    assert render(entry(messages=["user logged in"])) == "INFO  user logged in\n"


def test_golden_with_time_prefix_and_pairs():
    e = entry(LogLevel.WARN, ["disk", 91], data={"host": "a1"},
              metadata={"free": 0.5, "mount": "/var lib"}, prefix="[svc]")
    assert render(e, show_time=True) == (
        f'{local_clock(T)} WARN  [svc] disk 91 host=a1 free=0.5 mount="/var lib"\n')


def test_golden_colors():
    e = entry(messages=["hi"], data={"k": "v"})
    assert render(e, colors=True, show_time=True) == (
        f"{DIM}{local_clock(T)}{RESET} {GREEN}INFO{RESET}  hi {CYAN}k{RESET}=v\n")
    assert render(entry(LogLevel.FATAL), colors=True) == f"\x1b[1;31mFATAL{RESET} hello\n"


@pytest.mark.parametrize("level, label", [
    (LogLevel.TRACE, "TRACE "), (LogLevel.DEBUG, "DEBUG "), (LogLevel.INFO, "INFO  "),
    (LogLevel.WARN, "WARN  "), (LogLevel.ERROR, "ERROR "), (LogLevel.FATAL, "FATAL "),
    (25, "25    "),
])
def test_level_labels(level, label):
    assert render(entry(level, ["m"])) == label + "m\n"


def test_end_to_end_through_the_logger():
    log, out = console()
    log.with_fields(req="r-1").with_prefix("[api]").with_metadata({"user": "ada"}).info("in")
    log.warn()
    assert out.getvalue() == "INFO  [api] in req=r-1 user=ada\nWARN  \n"


def test_time_is_truncated_milliseconds():
    assert render(entry(time_ns=T), show_time=True).startswith(local_clock(T) + " INFO")
    assert local_clock(T).endswith(".123")


def test_one_write_per_entry():
    sink = Recorder()
    log = LogLayer(transports=ConsoleTransport(sink, colors=False, show_time=False))
    log.info("a")
    log.with_metadata({"k": 1}).info("b")
    assert sink.writes == ["INFO  a\n", "INFO  b k=1\n"]


# -- values ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [
    ("plain", "plain"),
    ("", '""'),
    ("two words", '"two words"'),
    ("a=b", '"a=b"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("tab\there", '"tab\\there"'),
    ("del\x7f", '"del\\u007f"'),
    ("nel\x85", '"nel\\u0085"'),
    ("sep\u2028", '"sep\\u2028"'),
    ("caf\u00e9", "caf\u00e9"),
    ("nb\u00a0sp", "nb\u00a0sp"),
    (None, "null"),
    (True, "true"),
    (False, "false"),
    (42, "42"),
    (1.5, "1.5"),
    (float("nan"), "null"),
    ([1, "a b"], '[1,"a b"]'),
    ({"x": {"y": None}}, '{"x":{"y":null}}'),
    ((1, 2), "[1,2]"),
    ({1: "a"}, '{"1":"a"}'),
    (10**30, f'"{10**30}"'),
    (b"\x00", '"b\'\\\\x00\'"'),
])
def test_value_quoting(value, shown):
    assert render(entry(messages=[], data={"k": value})) == f"INFO   k={shown}\n"


def test_unserialisable_and_cyclic_values():
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    cyclic: dict = {}
    cyclic["c"] = cyclic
    line = render(entry(messages=["m"], data={"u": Unprintable(), "c": cyclic}))
    assert line == 'INFO  m u="<unserializable Unprintable>" c={"c":"[Circular]"}\n'


def test_keys_are_text_and_quoted_like_values():
    """A key that could not be read back bare (a space, ``=``, a control character) is
    JSON-quoted, as a value would be: ``sp ace=c`` would read as two pairs."""
    line = render(entry(messages=["m"], data={1: "a", "x\ny": "b", "sp ace": "c",
                                              "k=v": "d", "": "e"}))
    assert line == 'INFO  m 1=a "x\\ny"=b "sp ace"=c "k=v"=d ""=e\n'


@dataclasses.dataclass
class User:
    name: str
    id: int


@pytest.mark.parametrize("metadata, shown", [
    ({"a": 1}, " a=1"),
    (User("ada", 1), " name=ada id=1"),
    ([1, 2], " metadata=[1,2]"),
    ("note", " metadata=note"),
    (3, " metadata=3"),
    (None, ""),
])
def test_metadata_inline(metadata, shown):
    assert render(entry(messages=["m"], metadata=metadata, metadata_key="ignored")) == \
        f"INFO  m{shown}\n"


# -- escaping and Multiline -----------------------------------------------------------


def test_log_injection_is_one_line():
    log, out = console()
    log.info("user ada\nINFO  admin logged in", "\r\x1b[2K\u2028\u2029\x00\x85")
    text = out.getvalue()
    assert text.count("\n") == 1
    assert text == ("INFO  user ada\\nINFO  admin logged in "
                    "\\r\\x1b[2K\\u2028\\u2029\\x00\\x85\n")


def test_prefix_and_non_str_messages_are_escaped():
    class Sneaky:
        def __str__(self):
            return "a\nb"

    assert render(entry(messages=[Sneaky(), 1], prefix="p\r")) == "INFO  p\\r a\\nb 1\n"


def test_multiline_message():
    log, out = console()
    log.info("table:", Multiline("a  b", "1  2", "x\ny"), "end")
    assert out.getvalue() == "INFO  table: a  b\n    1  2\n    x\\ny end\n"


def test_multiline_in_json_and_as_text():
    m = Multiline("a", 2, None)
    assert m.lines == ("a", "2", "None")
    assert str(m) == "a\n2\nNone"
    assert repr(m) == "Multiline('a', '2', 'None')"
    assert m == Multiline("a", "2", "None") and hash(m) == hash(Multiline("a", "2", "None"))
    assert str(Multiline()) == ""


def test_multiline_unprintable_line():
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    assert Multiline(Unprintable()).lines == ("<unprintable Unprintable>",)


# -- errors ---------------------------------------------------------------------------


def fail():
    raise ValueError("bad\ninput")


def test_error_summary_and_indented_traceback():
    log, out = console()
    try:
        fail()
    except ValueError as exc:
        log.with_error(exc).with_metadata({"k": 1}).error("failed")
    lines = out.getvalue().split("\n")
    assert lines[0] == "ERROR failed err=ValueError: bad\\ninput k=1"
    assert lines[1] == "    Traceback (most recent call last):"
    assert lines[-5].startswith('      File "') and lines[-5].endswith(", in fail")
    assert lines[-4] == '        raise ValueError("bad\\ninput")'
    # The block is Python's traceback text: a message's own line breaks stay, indented.
    assert lines[-3:] == ["    ValueError: bad", "    input", ""]
    assert all(line.startswith("    ") for line in lines[1:-1])


def test_error_without_traceback_has_no_block():
    log, out = console()
    log.with_error(KeyError("k")).error("x")
    assert out.getvalue() == "ERROR x err=KeyError: 'k'\n"


def test_error_with_empty_message():
    log, out = console()
    log.error_only(RuntimeError())
    assert out.getvalue() == "ERROR  err=RuntimeError\n"


def test_error_key_follows_the_transport_setting():
    out = io.StringIO()
    log = LogLayer(transports=ConsoleTransport(out, colors=False, show_time=False,
                                               error_key="error"), error_key="error")
    log.with_error(ValueError("v")).error("x")
    assert out.getvalue() == "ERROR x error=ValueError: v\n"


def test_error_key_follows_the_logger_by_default():
    """Each entry carries its logger's error_key, so a console transport shared by
    loggers with different keys summarises each one's error, in both renderers."""
    out = io.StringIO()
    console = ConsoleTransport(out, colors=False, show_time=False)
    LogLayer(transports=console, error_key="error").with_error(ValueError("v")).error("x")
    LogLayer(transports=console).with_error(KeyError("k")).error("y")
    assert out.getvalue() == "ERROR x error=ValueError: v\nERROR y err=KeyError: 'k'\n"


def test_error_removed_from_data_is_still_summarised():
    e = entry(LogLevel.ERROR, ["x"], data={"a": 1}, error=ValueError("v"))
    assert render(e) == "ERROR x a=1 err=ValueError: v\n"


def test_err_key_without_an_error_is_a_plain_value():
    assert render(entry(messages=["x"], data={"err": "none"})) == "INFO  x err=none\n"


# -- colours --------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return monkeypatch


def colored(sink) -> bool:
    return "\x1b[" in "".join(sink.writes)


@pytest.mark.parametrize("env, tty, expected", [
    ({}, False, False),
    ({}, True, True),
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": ""}, False, False),
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ({"NO_COLOR": ""}, True, True),
])
def test_auto_colors(clean_env, env, tty, expected):
    for name, value in env.items():
        clean_env.setenv(name, value)
    sink = Recorder(tty=tty)
    LogLayer(transports=ConsoleTransport(sink)).info("x")
    assert colored(sink) is expected


@pytest.mark.parametrize("colors", [True, False])
def test_forced_colors(clean_env, colors):
    clean_env.setenv("NO_COLOR", "1")
    sink = Recorder()
    LogLayer(transports=ConsoleTransport(sink, colors=colors)).info("x")
    assert colored(sink) is colors


def test_auto_colors_decided_once_for_a_given_stream(clean_env):
    sink = Recorder(tty=False)
    log = LogLayer(transports=ConsoleTransport(sink))
    sink._tty = True
    log.info("x")
    assert not colored(sink)


def test_broken_isatty_means_no_colors(clean_env):
    class Broken(Recorder):
        def isatty(self):
            raise ValueError("closed")

    sink = Broken()
    LogLayer(transports=ConsoleTransport(sink)).info("x")
    assert not colored(sink)


def test_default_stream_follows_sys_stderr(clean_env):
    first, second = Recorder(tty=False), Recorder(tty=True)
    log = LogLayer(transports=ConsoleTransport(show_time=False))
    clean_env.setattr(sys, "stderr", first)
    log.info("1")
    clean_env.setattr(sys, "stderr", second)
    log.info("2")
    clean_env.setattr(sys, "stderr", first)
    log.info("3")
    assert first.writes == ["INFO  1\n", "INFO  3\n"]
    assert second.writes == [f"{GREEN}INFO{RESET}  2\n"]


def test_default_logger_writes_to_stderr(capsys):
    LogLayer().info("to stderr")
    assert capsys.readouterr().err.endswith("INFO  to stderr\n")


def test_no_stderr_at_all(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    log = LogLayer(transports=ConsoleTransport())
    log.info("x")
    log.flush()


# -- construction ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, word", [
    ({"stream": 1}, TypeError, "stream"),
    ({"colors": "yes"}, TypeError, "colors"),
    ({"show_time": 1}, TypeError, "show_time"),
    ({"error_key": ""}, ValueError, "error_key"),
    ({"error_key": 3}, TypeError, "error_key"),
    ({"id": 3}, TypeError, "id"),
])
def test_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        ConsoleTransport(**kwargs)


def test_stream_property_and_flush(monkeypatch):
    class Flushing(io.StringIO):
        flushes = 0

        def flush(self):
            self.flushes += 1

    out = Flushing()
    t = ConsoleTransport(out)
    assert t.stream is out
    t.flush()
    t.close()
    assert out.flushes == 1 and not out.closed
    monkeypatch.setattr(sys, "stderr", out)
    assert ConsoleTransport().stream is out
