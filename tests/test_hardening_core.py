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


# -- 3: a mapping that changes, or fails, while the line is rendered ----------------------


class Grower:
    """A value whose text adds a key to the dict it sits in, as another thread could
    while the line is rendered (the renderer runs Python code for such a value)."""

    def __init__(self, target: dict) -> None:
        self.target = target

    def __str__(self) -> str:
        self.target[f"added{len(self.target)}"] = 1
        return "grower"


@pytest.mark.parametrize("where", ["data", "metadata"])
def test_a_dict_changed_while_its_line_is_rendered_still_gives_the_line(stack, where):
    log, out = console_logger(stack, on_transport_error=pytest.fail)
    changing: dict = {"a": 1}
    changing["g"] = Grower(changing)
    changing["z"] = 2
    if where == "data":  # a data hook's dict becomes the entry's data as it is
        import loglayer

        log.add_plugin(loglayer.data_hook("give", lambda params: changing))
        log.info("m")
    else:
        log.with_metadata(changing).info("m")
    line = out.getvalue()
    assert line.startswith('INFO  m a=1 g="grower" z=2') and line.count("\n") == 1


def test_a_dict_changed_by_another_thread_loses_no_line(stack):
    """Another thread adds and removes keys while the main thread logs the dict: the
    pure core used to lose about one line in ten (RuntimeError: changed size)."""
    import sys
    import threading

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        shared: dict = {f"k{i}": [i, {"n": i}] for i in range(20)}
        stop = threading.Event()

        def churn():
            n = 0
            while not stop.is_set():
                n += 1
                shared[n] = n
                shared.pop(n - 3, None)

        failures: list = []
        out = io.StringIO()
        json_out = io.BytesIO()
        log = stack.LogLayer(transports=[
            stack.LineTransport(stack.ConsoleFormat(False, False), out, id="c"),
            stack.LineTransport(stack.JsonFormat(time_format=None), json_out, binary=True,
                                id="j")], on_transport_error=failures.append)
        worker = threading.Thread(target=churn)
        worker.start()
        try:
            for i in range(1000):
                log.with_metadata(shared).info("n", i)
        finally:
            stop.set()
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(out.getvalue().splitlines()) == 1000
    assert [json.loads(line)["msg"] for line in json_out.getvalue().splitlines()] == \
        [f"n {i}" for i in range(1000)]


class ItemsFail(dict):
    """A dict whose items() raises."""

    def items(self):
        raise RuntimeError("no items for you")


class BrokenMapping:
    """A Mapping (registered) whose iteration raises."""

    def __getitem__(self, key):
        raise KeyError(key)

    def __iter__(self):
        raise RuntimeError("no iteration")

    def __len__(self):
        return 1

    def keys(self):
        raise RuntimeError("no keys")

    def items(self):
        raise RuntimeError("no items")

    def __str__(self):
        return "BrokenMapping()"


def test_a_mapping_whose_items_raise_is_still_rendered():
    from collections.abc import Mapping

    Mapping.register(BrokenMapping)
    assert same_console(metadata=ItemsFail(a=1, b="x y")) == 'INFO  m a=1 b="x y"\n'
    assert same_console(metadata=BrokenMapping()) == 'INFO  m metadata="BrokenMapping()"\n'
    assert json.loads(same_json(metadata=ItemsFail(a=1))) == {"level": "info", "msg": "m",
                                                              "a": 1}
    assert json.loads(same_json(metadata=BrokenMapping()))["metadata"] == "BrokenMapping()"


def test_pure_renderers_survive_a_mapping_whose_items_raise_as_data():
    """A hand-built pure entry may carry any mapping as its data (the compiled entry
    takes a dict only)."""
    import loglayer._core_py as pure_core
    import loglayer._render_py as pure_render

    entry = pure_core.LogEntry(LogLevel.INFO, ["m"], BrokenMapping(), None, None, {}, None,
                               None, 0, None)
    assert pure_render.ConsoleFormat(False, False).render(entry) == \
        'INFO  m data="BrokenMapping()"\n'
    assert json.loads(pure_render.JsonFormat(time_format=None).render(entry)) == \
        {"level": "info", "msg": "m", "data": "BrokenMapping()"}


# -- 10: objects whose attribute access raises -------------------------------------------


class Hostile:
    """Every attribute lookup raises, ``__class__`` included (a broken proxy)."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no {name}")

    def __str__(self):
        return "hostile"


class HostileError(Exception):
    def __getattribute__(self, name):
        raise RuntimeError(f"no {name}")


def test_a_message_whose_getattribute_raises_is_written(stack):
    log, out = console_logger(stack, on_transport_error=pytest.fail)
    log.info(Hostile(), "and", Hostile())
    log.with_metadata({"h": Hostile()}).info("x")
    assert out.getvalue() == 'INFO  hostile and hostile\nINFO  x h="hostile"\n'


def test_an_error_whose_getattribute_raises_is_written(stack):
    log, out = console_logger(stack, on_transport_error=pytest.fail)
    try:
        raise HostileError("boom")
    except HostileError as exc:
        log.with_error(exc).error("failed")
    assert out.getvalue() == "ERROR failed err=HostileError: boom\n"


# -- 19: characters that end a line for some readers, in JSON ----------------------------


def test_json_escapes_del_c1_and_the_line_separators():
    sneaky = "a\x7fb\x85c\x9bd\u2028e\u2029f"
    line = same_json(messages=[sneaky], data={sneaky: sneaky}, metadata={"m": [sneaky]})
    raw = line.decode("utf-8")
    assert not set(raw) & {"\x7f", "\x85", "\x9b", "\u2028", "\u2029"}
    assert len(raw.splitlines()) == 1
    assert "a\\u007fb\\u0085c\\u009bd\\u2028e\\u2029f" in raw
    assert json.loads(line) == {"level": "info", "msg": sneaky, sneaky: sneaky, "m": [sneaky]}


@pytest.mark.parametrize("text", ["caf\u00e9 \u00a0 \u00bf \u00c2\u00a1",
                                  "\u20ac \u2027 \u202a", "\U0001f600"])
def test_json_keeps_other_non_ascii_text_raw(text):
    line = same_json(messages=[text], data={"k": text})
    assert text.encode("utf-8") in line and json.loads(line)["k"] == text


# -- 20: NaN and the infinities ----------------------------------------------------------


def test_nan_and_infinities_are_null_in_json_and_on_the_console():
    values = {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
              "nested": [float("nan")]}
    assert json.loads(same_json(data=values)) == {
        "level": "info", "msg": "m", "nan": None, "inf": None, "ninf": None, "nested": [None]}
    assert same_console(data=values) == "INFO  m nan=null inf=null ninf=null nested=[null]\n"


# -- 16: the error as the (possibly redacted) data shows it ------------------------------


def _login(password):
    raise ValueError(f"bad password {password}")


def _failed_login(password="hunter2"):
    try:
        _login(password)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def _indented(text: str) -> str:
    return "".join("    " + line + "\n" for line in text.rstrip("\n").split("\n"))


def _censor(value, secret="hunter2"):
    """``value`` with ``secret`` replaced in every str, at any depth (as redact does)."""
    if isinstance(value, str):
        return value.replace(secret, "[REDACTED]")
    if isinstance(value, dict):
        return {key: _censor(item, secret) for key, item in value.items()}
    return value


def censoring(secret="hunter2", whole=False):
    """A data hook that censors the serialized error the way ``redact`` does: it returns
    a censored copy of ``err`` to merge over the data (or replaces it whole)."""
    import loglayer

    def hook(params):
        if "err" not in params.data:
            return None
        censored = "[REDACTED]" if whole else _censor(params.data["err"], secret)
        return None if censored == params.data["err"] else {"err": censored}

    return loglayer.data_hook("censor", hook)


def _both_outputs(s, *, plugins=(), prefix=None, **options):
    console_out, json_out = io.StringIO(), io.BytesIO()
    log = s.LogLayer(transports=[
        s.LineTransport(s.ConsoleFormat(False, False), console_out, id="c"),
        s.LineTransport(s.JsonFormat(time_format=None), json_out, binary=True, id="j")],
        plugins=plugins, prefix=prefix, on_transport_error=pytest.fail, **options)
    return log, console_out, json_out


def test_a_redacted_error_is_redacted_on_the_console_too(stack):
    log, console_out, json_out = _both_outputs(stack, plugins=[censoring()])
    log.with_error(_failed_login()).error("login failed")
    text = console_out.getvalue()
    assert "hunter" not in text and "hunter" not in json_out.getvalue().decode()
    first, rest = text.split("\n", 1)
    assert first == "ERROR login failed err=ValueError: bad password [REDACTED]"
    serialized = json.loads(json_out.getvalue())["err"]
    assert rest == _indented(serialized["traceback"])
    assert rest.endswith("    ValueError: bad password [REDACTED]\n")


def test_an_error_nothing_censored_is_shown_as_before(stack):
    from loglayer._errorfmt import format_traceback

    error = _failed_login()
    log, console_out, _ = _both_outputs(stack, plugins=[censoring("nothing")])
    log.with_error(error).error("login failed")
    assert console_out.getvalue() == ("ERROR login failed err=ValueError: bad password "
                                      "hunter2\n" + _indented(format_traceback(error)))


def test_a_censored_cause_is_censored_in_the_chain(stack):
    from loglayer._errorfmt import format_traceback

    try:
        try:
            _login("hunter2")
        except ValueError as inner:
            raise RuntimeError("login service down") from inner
    except RuntimeError as outer:
        error = outer
    log, console_out, json_out = _both_outputs(stack, plugins=[censoring()])
    log.with_error(error).error("x")
    text = console_out.getvalue()
    assert "hunter2" not in text
    expected = format_traceback(error).replace("hunter2", "[REDACTED]")
    assert text == "ERROR x err=RuntimeError: login service down\n" + _indented(expected)


def test_an_error_censored_whole_shows_the_censor_and_no_traceback(stack):
    log, console_out, json_out = _both_outputs(stack, plugins=[censoring(whole=True)])
    log.with_error(_failed_login()).error("login failed")
    assert console_out.getvalue() == "ERROR login failed err=[REDACTED]\n"
    assert json.loads(json_out.getvalue())["err"] == "[REDACTED]"


def test_a_custom_str_serializer_is_shown_with_the_traceback(stack):
    from loglayer._errorfmt import format_traceback

    error = _failed_login("x")
    log, console_out, _ = _both_outputs(stack, error_serializer=lambda e: f"E:{e}")
    log.with_error(error).error("failed")
    assert console_out.getvalue() == ("ERROR failed err=E:bad password x\n"
                                      + _indented(format_traceback(error)))


def test_an_error_removed_from_the_data_is_still_shown_from_the_exception(stack):
    import loglayer

    def drop_err(params):
        params.data.pop("err")  # a hook that owns nothing and mutates anyway
        return None

    error = _failed_login("x")
    log, console_out, _ = _both_outputs(
        stack, plugins=[loglayer.data_hook("copy", lambda p: {"k": 1}),
                        loglayer.data_hook("drop", drop_err)])
    log.with_error(error).error("failed")
    assert console_out.getvalue().startswith("ERROR failed k=1 err=ValueError: bad password x\n")


def test_the_renderers_agree_on_errors_in_the_data():
    error = _failed_login()
    from loglayer._errorfmt import serialize_error

    censored = serialize_error(error)
    censored["message"] = "bad password ***"
    for value in (serialize_error(error), censored, "E:x", 42, {"kind": "x"}, None,
                  {"message": 1, "traceback": 2}, {"message": "m", "cause": {"cause": 1}}):
        same_console(level=LogLevel.ERROR, data={"err": value}, error=error)


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9f", "\u2028", "\u2029"])
def test_json_finds_the_character_wherever_it_stands(char):
    """The compiled renderer scans 8 or 16 bytes at a time: every offset, either side
    of a block's end, and after other non-ASCII text, must be found."""
    for width in range(0, 48):
        for filler in ("a", "\u00e9"):
            text = filler * width + char
            raw = same_json(messages=["m"], data={"k": text, "n": 1}).decode("utf-8")
            assert char not in raw and len(raw.splitlines()) == 1, (width, filler)


# -- 6: a transport whose enabled or level fails -----------------------------------------


class Boom(Exception):
    pass


class Falsy:
    def __bool__(self):
        raise Boom("no truth")


def _plain_transport(name, **attrs):
    """A transport that is not a ``Transport`` subclass, so the kernel reads its
    ``enabled`` and ``level`` the Python way."""
    got: list = []

    class Plain:
        id = name

        def send(self, entry):
            got.append(entry.messages[0])

    for attr, value in attrs.items():
        setattr(Plain, attr, value)
    return Plain(), got


def _raising(exc):
    def getter(self):
        raise exc
    return property(getter)


@pytest.mark.parametrize("attrs", [
    {"enabled": _raising(Boom("enabled"))},
    {"level": _raising(Boom("level"))},
    {"enabled": Falsy()},
], ids=["enabled raises", "level raises", "enabled's bool raises"])
def test_a_transport_whose_enabled_or_level_fails_is_reported_not_raised(core, tt, attrs):
    failing, failing_got = _plain_transport("bad", **attrs)
    errors: list = []
    log = core.LogLayer(transports=[failing, tt], on_transport_error=errors.append)
    log.info("x")
    log.info("y")
    assert [e.messages for e in tt.lines] == [["x"], ["y"]]
    assert failing_got == []
    assert [(err.transport_id, type(err.__cause__)) for err in errors] == [("bad", Boom)] * 2


def test_a_level_that_is_not_a_level_means_no_minimum(core, tt):
    weird, got = _plain_transport("weird", level=Hostile())
    core.LogLayer(transports=[weird, tt], on_transport_error=pytest.fail).debug("x")
    assert got == ["x"]


def test_a_flush_or_close_that_cannot_be_looked_up_is_reported(core, tt):
    broken, _ = _plain_transport("b", flush=_raising(Boom("flush")),
                                 close=_raising(Boom("close")))
    errors: list = []
    log = core.LogLayer(transports=[broken, tt], on_transport_error=errors.append)
    log.fatal("down")  # fatal flushes
    log.close()
    assert [e.messages for e in tt.lines] == [["down"]]
    assert [str(err.__cause__) for err in errors] == ["flush", "close"]


# -- beyond the list: hook answers that fail when they are read -------------------------


class BrokenItems(dict):
    """A dict subclass whose copy fails."""

    def keys(self):
        raise Boom("keys")

    def __iter__(self):
        raise Boom("iter")


class BadList(list):
    def __iter__(self):
        raise Boom("iter")


@pytest.mark.parametrize("answer, hook_name", [
    (Hostile(), "on_before_data_out"),
    (BrokenMapping(), "on_before_data_out"),
    (BrokenItems(a=1), "on_before_data_out"),
    (Hostile(), "on_before_message_out"),
    (BadList(["x"]), "on_before_message_out"),
    (Hostile(), "transform_log_level"),
    (2.5, "transform_log_level"),
], ids=["data:hostile", "data:broken mapping", "data:broken dict", "message:hostile",
        "message:broken list", "level:hostile", "level:float"])
def test_a_hook_answer_that_cannot_be_read_is_the_hook_failing(core, tt, answer, hook_name):
    from collections.abc import Mapping

    import loglayer

    Mapping.register(BrokenMapping)
    make = {"on_before_data_out": loglayer.data_hook,
            "on_before_message_out": loglayer.message_hook,
            "transform_log_level": loglayer.level_hook}[hook_name]
    failures: list = []

    class Report:
        id = "bad"

        def on_error(self, err):
            failures.append((err.plugin_id, err.hook))

    plugin = make("bad", lambda params: answer)
    plugin.on_error = Report().on_error
    log = core.LogLayer(transports=tt, plugins=[plugin])
    log.with_fields(k=1).info("m")
    entry = tt.last_line()
    assert (entry.level, entry.messages, entry.data) == (LogLevel.INFO, ["m"], {"k": 1})
    assert failures == [("bad", hook_name)]


def test_a_fields_hook_answer_that_cannot_be_read_drops_the_call(core, tt):
    import loglayer

    failures: list = []
    plugin = loglayer.fields_hook("bad", lambda fields: BrokenItems(a=1))
    plugin.on_error = failures.append
    log = core.LogLayer(transports=tt, plugins=[plugin], fields={"kept": 1})
    log.with_fields(new=2).info("m")
    assert tt.last_line().data == {"kept": 1}
    assert [err.hook for err in failures] == ["on_fields_called"]


def test_a_hook_may_replace_the_prefix_and_every_renderer_shows_it(stack):
    """The prefix travels as entry.prefix; a message hook that censors it (as redact
    can now) is heard by the kernel, so no output keeps the raw one."""
    import loglayer

    def censor_prefix(params):
        params.prefix = params.prefix.replace("hunter2", "[REDACTED]")
        return None

    log, console_out, json_out = _both_outputs(
        stack, plugins=[loglayer.message_hook("p", censor_prefix)], prefix="[user hunter2]")
    log.info("hello")
    assert console_out.getvalue() == "INFO  [user [REDACTED]] hello\n"
    assert json.loads(json_out.getvalue())["msg"] == "[user [REDACTED]] hello"


def _stdlib_capture(core, plugins):
    import logging

    from loglayer.transports._stdlib import StdlibTransport

    target = logging.getLogger(f"hardening.{core.__name__}.{len(plugins)}")
    target.propagate = False
    target.setLevel(logging.DEBUG)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    target.handlers[:] = [handler]
    return core.LogLayer(transports=StdlibTransport(target), plugins=plugins), out


def test_stdlib_records_carry_the_censored_traceback(core):
    log, out = _stdlib_capture(core, [censoring()])
    log.with_error(_failed_login()).error("login failed")
    text = out.getvalue()
    assert "hunter2" not in text
    assert text.startswith("ERROR login failed\nTraceback (most recent call last):\n")
    assert text.endswith("ValueError: bad password [REDACTED]\n")


def test_stdlib_records_keep_exc_info_when_nothing_was_censored(core):
    import logging

    error = _failed_login()
    log, out = _stdlib_capture(core, [censoring("nothing")])
    log.with_error(error).error("login failed")
    expected = logging.Formatter().formatException((type(error), error, error.__traceback__))
    assert out.getvalue() == "ERROR login failed\n" + expected + "\n"


def test_stdlib_records_of_an_error_censored_whole(core):
    log, out = _stdlib_capture(core, [censoring(whole=True)])
    log.with_error(_failed_login()).error("login failed")
    assert out.getvalue() == "ERROR login failed\n[REDACTED]\n"


# -- 7: signal handlers that log while the main thread is mid-emission -------------------

needs_sigusr1 = pytest.mark.skipif(not hasattr(__import__("signal"), "SIGUSR1"),
                                   reason="needs SIGUSR1")


@pytest.fixture
def on_sigusr1():
    """Install a SIGUSR1 handler for the test; restored afterwards."""
    import signal

    previous = signal.getsignal(signal.SIGUSR1)
    yield lambda handler: signal.signal(signal.SIGUSR1, handler)
    signal.signal(signal.SIGUSR1, previous)


def _raise_sigusr1():
    import signal

    signal.raise_signal(signal.SIGUSR1)  # handled at the next bytecode, on this thread


def _recorder(core, *, signal_in=None, log_inside=None):
    """A transport that records what it gets; optionally raises SIGUSR1 (or logs) while
    it sends the entry with that message."""

    class Recorder(core.Transport):
        def __init__(self):
            super().__init__("rec")
            self.got: list = []
            self.flushes = 0

        def send(self, entry):
            self.got.append((entry.messages[0], entry.level, entry.time_ns))
            if entry.messages[0] == signal_in:
                _raise_sigusr1()
            if log_inside is not None:
                log_inside()

        def flush(self):
            self.flushes += 1
            self.got.append(("<flush>", None, 0))

    return Recorder()


@needs_sigusr1
def test_a_signal_handlers_entry_is_sent_after_the_emission_it_interrupted(core, on_sigusr1,
                                                                          capsys):
    import time

    rec = _recorder(core, signal_in="working")
    log = core.LogLayer(transports=rec)
    before = core.LogLayer.reentry_stats()
    seen = []

    def handler(signum, frame):
        seen.append(time.time_ns())
        log.warn("got SIGUSR1")

    on_sigusr1(handler)
    log.info("working")
    log.info("after")
    assert [m for m, _, _ in rec.got] == ["working", "got SIGUSR1", "after"]
    assert rec.got[1][1] == LogLevel.WARN
    assert rec.got[0][2] <= rec.got[1][2] <= seen[0] + 10**9  # the time it was logged
    assert "dropped" not in capsys.readouterr().err
    after = core.LogLayer.reentry_stats()
    assert after["deferred"] == before["deferred"] + 1 and after["dropped"] == before["dropped"]


@needs_sigusr1
@pytest.mark.parametrize("shape", ["function", "bound method", "partial", "callable object"])
def test_handlers_of_every_shape_are_recognised(core, on_sigusr1, shape):
    import functools

    rec = _recorder(core, signal_in="working")
    log = core.LogLayer(transports=rec)

    def handle(signum, frame):
        log.with_metadata({"signal": signum}).warn("signal")

    class Handler:
        def on_signal(self, signum, frame):
            handle(signum, frame)

        def __call__(self, signum, frame):
            handle(signum, frame)

    handler = {"function": handle, "bound method": Handler().on_signal,
               "partial": functools.partial(handle), "callable object": Handler()}[shape]
    on_sigusr1(handler)
    log.info("working")
    assert [m for m, _, _ in rec.got] == ["working", "signal"]


@needs_sigusr1
def test_a_fatal_from_a_signal_handler_flushes_after_it_is_sent(core, on_sigusr1):
    rec = _recorder(core, signal_in="working")
    log = core.LogLayer(transports=rec)
    on_sigusr1(lambda signum, frame: log.fatal("terminating"))
    log.info("working")
    assert [m for m, _, _ in rec.got] == ["working", "terminating", "<flush>"]


@needs_sigusr1
def test_a_signal_during_a_hook_is_deferred_and_the_hook_still_cannot_recurse(core,
                                                                              on_sigusr1,
                                                                              capsys):
    import loglayer

    rec = _recorder(core)
    log = core.LogLayer(transports=rec)
    on_sigusr1(lambda signum, frame: log.info("from the handler"))

    def hook(params):
        if params.messages == ["outer"]:
            _raise_sigusr1()
            log.info("from the hook")  # SPEC §4: dropped, one line on stderr
        return None

    log.add_plugin(loglayer.data_hook("h", hook))
    before = core.LogLayer.reentry_stats()
    log.info("outer")
    assert [m for m, _, _ in rec.got] == ["outer", "from the handler"]
    err = capsys.readouterr().err
    assert err.count("dropped") == 1
    after = core.LogLayer.reentry_stats()
    assert (after["dropped"] - before["dropped"], after["deferred"] - before["deferred"]) == \
        (1, 1)


@needs_sigusr1
def test_a_hook_logging_inside_an_entry_a_handler_logged_is_deferred_once(core, on_sigusr1,
                                                                          capsys):
    """The documented limit: the handler is on the stack, so the hook's entry is taken
    for the handler's and deferred once; logged again while deferred entries are
    delivered, it is dropped, so it cannot loop."""
    rec = _recorder(core, log_inside=lambda: log.info("from the transport"))
    log = core.LogLayer(transports=rec)
    on_sigusr1(lambda signum, frame: log.info("from the handler"))
    _raise_sigusr1()  # the main thread is not dispatching: the handler's entry is sent
    assert [m for m, _, _ in rec.got] == ["from the handler", "from the transport"]
    assert capsys.readouterr().err.count("dropped") == 1


def test_a_hook_that_logs_is_counted_as_dropped(core, tt):
    import loglayer

    log = core.LogLayer(transports=tt)
    log.add_plugin(loglayer.data_hook("h", lambda params: log.info("inner")))
    before = core.LogLayer.reentry_stats()["dropped"]
    log.info("outer")
    log.info("again")
    assert core.LogLayer.reentry_stats()["dropped"] == before + 2
    assert [e.messages for e in tt.lines] == [["outer"], ["again"]]


def test_another_thread_never_defers(core):
    """Only the main thread runs signal handlers: a re-entrant call elsewhere is a hook."""
    import threading

    import loglayer

    tt_local = []

    class T(core.Transport):
        def send(self, entry):
            tt_local.append(entry.messages[0])

    log = core.LogLayer(transports=T("t"))
    log.add_plugin(loglayer.data_hook("h", lambda params: log.info("inner")))
    thread = threading.Thread(target=log.info, args=("outer",))
    thread.start()
    thread.join()
    assert tt_local == ["outer"]


# -- beyond the list: what the renderers and line transports are handed ------------------


def test_a_prefix_a_hook_set_to_an_object_is_its_text(stack):
    import loglayer

    class Label:
        def __bool__(self):
            raise Boom("no truth")

        def __str__(self):
            return "[label]"

    def set_prefix(params):
        params.prefix = Label()
        return None

    log, console_out, json_out = _both_outputs(
        stack, plugins=[loglayer.message_hook("p", set_prefix)], prefix="p")
    log.info("m")
    assert console_out.getvalue() == "INFO  [label] m\n"
    assert json.loads(json_out.getvalue())["msg"] == "[label] m"


class SurrogateFormat:
    """A custom format whose str line holds a lone surrogate."""

    binary = False

    def render(self, entry):
        return "file \udcff\n"


class LatinFormat:
    """A custom format whose bytes are not UTF-8."""

    binary = True

    def render(self, entry):
        return b"caf\xe9\n"


def test_a_custom_line_that_does_not_convert_is_escaped_not_lost(stack):
    binary_out, text_out = io.BytesIO(), io.StringIO()
    log = stack.LogLayer(transports=[
        stack.LineTransport(SurrogateFormat(), binary_out, binary=True, id="b"),
        stack.LineTransport(LatinFormat(), text_out, id="t")], on_transport_error=pytest.fail)
    log.info("x")
    assert binary_out.getvalue() == b"file \\udcff\n"
    assert text_out.getvalue() == "caf\\xe9\n"


def test_a_level_whose_attributes_raise_is_written_as_its_text():
    """Only a hand-built entry can carry such a level; the renderer still writes it."""
    import loglayer._core_py as pure_core
    import loglayer._render_py as pure_render

    class Weird:
        def __getattribute__(self, name):
            raise Boom(name)

        def __str__(self):
            return "odd"

        def __hash__(self):
            return 1

        def __eq__(self, other):
            return False

    entry = pure_core.LogEntry(Weird(), ["m"], {}, None, None, {}, None, None, 0, None)
    assert pure_render.ConsoleFormat(False, False).render(entry) == "ODD   m\n"
    assert json.loads(pure_render.JsonFormat(time_format=None).render(entry))["level"] == "odd"


def test_file_transport_text_lines_are_censored_too(tmp_path):
    """FileTransport(format="text") renders with the console format (live core)."""
    import loglayer

    path = tmp_path / "app.log"
    transport = loglayer.FileTransport(str(path), format="text", time_format=None)
    with loglayer.LogLayer(transports=transport, plugins=[censoring()]) as log:
        log.with_error(_failed_login()).error("login failed")
    text = path.read_text("utf-8")
    assert "hunter2" not in text
    assert text.startswith("ERROR login failed err=ValueError: bad password [REDACTED]\n")
    assert text.endswith("    ValueError: bad password [REDACTED]\n")
