"""Issue 17 (hardening) for the kernels and the renderers: an entry is never lost, a line
never breaks, a terminal is never driven, whatever the data, the hooks and the transports
do.

Kernel behaviour is tested on both cores through the ``core`` fixture; rendering through
``stack`` (each core with its own renderers), and where it is about bytes, the compiled
renderer is compared with the pure one on the same entry.
"""

from __future__ import annotations

import importlib
import io
import json
import types

import pytest

from conftest import available_cores
from loglayer import LogLevel

# -- helpers ------------------------------------------------------------------------------


def _stack_of(kernel: types.ModuleType) -> types.SimpleNamespace:
    """A kernel with the renderers built for it, as one namespace."""
    pure = kernel.__name__.endswith("_py")
    render = importlib.import_module("loglayer._render_py" if pure else "loglayer._render")
    return types.SimpleNamespace(
        name="pure" if pure else "compiled", kernel=kernel, LogLayer=kernel.LogLayer,
        LogEntry=kernel.LogEntry, Transport=kernel.Transport, HookParams=kernel.HookParams,
        LineTransport=render.LineTransport, JsonFormat=render.JsonFormat,
        ConsoleFormat=render.ConsoleFormat)


@pytest.fixture
def stack(core) -> types.SimpleNamespace:
    """The ``core`` under test with its renderers (compiled with compiled, pure with pure)."""
    return _stack_of(core)


def stacks() -> list[types.SimpleNamespace]:
    """Every importable kernel with its renderers, compiled first."""
    return [_stack_of(kernel) for kernel in available_cores()]


def console_line(s, *, level=LogLevel.INFO, messages=("m",), data=None, metadata=None,
                 error=None, prefix=None, metadata_key=None, error_key="err",
                 colors=False) -> str:
    """One console line rendered by ``s``'s ConsoleFormat (no time column)."""
    entry = s.LogEntry(level, list(messages), {} if data is None else data, metadata, error,
                       {}, None, prefix, 0, metadata_key, error_key)
    return s.ConsoleFormat(colors, False).render(entry)


def json_line(s, *, level=LogLevel.INFO, messages=("m",), data=None, metadata=None,
              error=None, prefix=None, metadata_key=None) -> bytes:
    entry = s.LogEntry(level, list(messages), {} if data is None else data, metadata, error,
                       {}, None, prefix, 0, metadata_key)
    return s.JsonFormat(time_format=None).render(entry)


def same_console(**entry) -> str:
    """The console line every renderer writes for ``entry`` (they must agree)."""
    lines = {s.name: console_line(s, **entry) for s in stacks()}
    assert len(set(lines.values())) == 1, lines
    return next(iter(lines.values()))


def same_json(**entry) -> bytes:
    """The JSON line every renderer writes for ``entry`` (they must agree)."""
    lines = {s.name: json_line(s, **entry) for s in stacks()}
    assert len(set(lines.values())) == 1, lines
    return next(iter(lines.values()))


def console_logger(s, **options):
    """A logger of ``s`` writing console lines (no time, no colours) to a StringIO."""
    out = io.StringIO()
    sink = s.LineTransport(s.ConsoleFormat(False, False), out, id="console")
    return s.LogLayer(transports=sink, **options), out


class StrictUtf8(io.TextIOWrapper):
    """A text stream that encodes strictly, like a file opened with ``encoding="utf-8"``."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="strict")

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8")


# -- 9: lone surrogates ------------------------------------------------------------------


def test_a_lone_surrogate_is_escaped_like_json_writes_it():
    name = b"report-\xff.txt".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    line = same_console(messages=["opened", name], data={"file": name, name: 1})
    assert line == 'INFO  opened report-\\udcff.txt file="report-\\\\udcff.txt" ' \
                   '"report-\\\\udcff.txt"=1\n'
    assert json.loads(same_json(data={"file": name}))["file"] == "report-\\udcff.txt"


def test_a_lone_surrogate_does_not_lose_the_line_on_a_utf8_stream(stack):
    stream = StrictUtf8()
    errors = []
    log = stack.LogLayer(transports=stack.LineTransport(stack.ConsoleFormat(False, False),
                                                        stream),
                         on_transport_error=errors.append, prefix="\udc80")
    log.with_metadata({"path": "a\udcff"}).info("listing", "b\ud800")
    assert errors == []
    assert stream.text() == 'INFO  \\udc80 listing b\\ud800 path="a\\\\udcff"\n'


# -- 17: what loglayer itself writes to stderr -------------------------------------------


def test_failure_lines_on_stderr_are_escaped(core, capsys):
    class Hostile(Exception):
        def __str__(self):
            return "boom\n\x1b[2J\x1b]0;pwned\x07\rINFO  forged \udc80"

    class Broken(core.Transport):
        def send(self, entry):
            raise Hostile()

    def hook(params):
        raise Hostile()

    import loglayer

    log = core.LogLayer(transports=Broken("t\n1"), plugins=[loglayer.data_hook("p\x1b", hook)])
    log.info("x")
    err = capsys.readouterr().err
    lines = err.split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert "\x1b" not in err and "\r" not in err and "\x07" not in err
    assert all(line.startswith("loglayer: ") for line in lines[:2])
    assert "boom\\n\\x1b[2J\\x1b]0;pwned\\x07\\rINFO  forged \\udc80" in lines[0]
    err.encode("utf-8")  # nothing a UTF-8 terminal cannot take


# -- 18: keys that are not bare ----------------------------------------------------------


def test_a_key_that_is_not_bare_is_quoted():
    line = same_console(messages=["login"], data={"user=admin role": "guest", "ok": 1},
                        metadata={"a b": "c", "": 0, "\x1b[31m": "red"})
    assert line == ('INFO  login "user=admin role"=guest ok=1 "a b"=c ""=0 '
                    '"\\u001b[31m"=red\n')


def test_an_error_key_that_is_not_bare_is_quoted():
    assert same_console(messages=["x"], error=ValueError("v"), error_key="the err") == \
        'INFO  x "the err"=ValueError: v\n'


class Text(str):
    """A str subclass that lies about itself."""

    def __contains__(self, item):
        raise RuntimeError("no")

    def __radd__(self, other):
        return "forged"


def test_str_subclass_values_and_keys_are_written_as_their_characters(stack):
    """The compiled console used to refuse a str subclass value (a TypeError: the whole
    line lost); the pure one asked the subclass' own ``in`` and ``+``."""
    log, out = console_logger(stack, on_transport_error=pytest.fail)
    log.with_metadata({Text("k"): Text("v"), "q": Text("a b")}).info(Text("msg"))
    assert out.getvalue() == 'INFO  msg k=v q="a b"\n'
