"""Error messages that teach, worded the same by both cores.

Each case is a mistake a newcomer makes; it runs on every available core, and the
exception's type and text must be identical (``compiled`` vs ``pure``), so the docs,
a search engine and a support answer can quote one message. The first cases also pin
what the message teaches: what a plugin is, what ``transports`` accepts, that a hook
helper takes its id first, and where keyword arguments to a level method belong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import loglayer
from conftest import available_cores
from loglayer.testing import TestTransport


def _log(core: ModuleType) -> Any:
    return core.LogLayer(transports=TestTransport("t"))


class _Hookless:
    """An object that takes attributes but has none of the six hooks."""


def _function(params: Any) -> None:
    return None


#: (case, call on a core, exception type, what the message must contain)
CASES: list[tuple[str, Callable[[ModuleType], Any], type[Exception], tuple[str, ...]]] = [
    # what the issue names
    ("add_plugin(object())", lambda c: _log(c).add_plugin(object()), TypeError,
     ("a plugin is an object with an id", "on_fields_called", "should_send",
      "loglayer.data_hook", "got object")),
    ("add_plugin(a function)", lambda c: _log(c).add_plugin(_function), TypeError,
     ("a plugin is an object with an id", "got the function _function",
      "loglayer.data_hook('my-id', fn)")),
    ("add_plugin(a class)", lambda c: _log(c).add_plugin(_Hookless), TypeError,
     ("got the class _Hookless", "an instance")),
    ("add_plugin('redact')", lambda c: _log(c).add_plugin("redact"), TypeError,
     ("got the str 'redact'", "loglayer.registry.get_plugin")),
    ("plugins=[object()]", lambda c: c.LogLayer(transports=TestTransport("t"),
                                                plugins=[object()]), TypeError,
     ("a plugin is an object with an id",)),
    ("transports=42", lambda c: c.LogLayer(transports=42), TypeError,
     ("transports must be a transport (an object with a send(entry) method) or a "
      "sequence of transports, got int",)),
    ("transports=[t, 42]", lambda c: c.LogLayer(transports=[TestTransport("t"), 42]),
     TypeError, ("transports[1] must be a transport (an object with a send(entry) method)",
                 "got int")),
    ("add_transport(42)", lambda c: _log(c).add_transport(42), TypeError,
     ("add_transport() takes transports (objects with a send(entry) method), got int",)),
    ("transports='console'", lambda c: c.LogLayer(transports="console"), TypeError,
     ("got the str 'console'", "from_config")),
    ("info('x', foo=1)", lambda c: _log(c).info("x", foo=1), TypeError,
     ("info() takes messages only, not keyword arguments (foo=)",
      "with_metadata({'foo': ...}).info(...)", "with_fields(foo=...)")),
    ("warn('x', a=1, b=2)", lambda c: _log(c).warn("x", a=1, b=2), TypeError,
     ("warn() takes messages only, not keyword arguments (a=, b=)",)),
    ("builder error('x', foo=1)",
     lambda c: _log(c).with_metadata({"m": 1}).error("x", foo=1), TypeError,
     ("error() takes messages only, not keyword arguments (foo=)", "with_metadata")),
    # the rest of the public API: the same words from both cores
    ("with_fields(1, 2)", lambda c: _log(c).with_fields({"a": 1}, {"b": 2}), TypeError, ()),
    ("with_fields(3)", lambda c: _log(c).with_fields(3), TypeError,
     ("with_fields() needs a mapping, got int",)),
    ("with_prefix(3)", lambda c: _log(c).with_prefix(3), TypeError, ()),
    ("with_error('x')", lambda c: _log(c).with_error("x"), TypeError, ()),
    ("builder with_error('x')", lambda c: _log(c).with_metadata({}).with_error("x"),
     TypeError, ()),
    ("error_only('x')", lambda c: _log(c).error_only("x"), TypeError, ()),
    ("error_only level", lambda c: _log(c).error_only(ValueError(), level="loud"),
     ValueError, ()),
    ("metadata_only level", lambda c: _log(c).metadata_only({}, "loud"), ValueError, ()),
    ("raw error", lambda c: _log(c).raw("info", "x", error="e"), TypeError, ()),
    ("raw fields", lambda c: _log(c).raw("info", "x", fields=3), TypeError, ()),
    ("set_level('loud')", lambda c: _log(c).set_level("loud"), ValueError, ()),
    ("enable_level(99)", lambda c: _log(c).enable_level(99), ValueError, ()),
    ("is_level_enabled(None)", lambda c: _log(c).is_level_enabled(None), ValueError, ()),
    ("LogLayer(level='verbose')", lambda c: c.LogLayer(transports=TestTransport("t"),
                                                       level="verbose"), ValueError, ()),
    ("LogLayer(prefix=1)", lambda c: c.LogLayer(transports=TestTransport("t"), prefix=1),
     TypeError, ()),
    ("LogLayer(error_serializer=1)",
     lambda c: c.LogLayer(transports=TestTransport("t"), error_serializer=1), TypeError, ()),
    ("LogLayer(on_transport_error=1)",
     lambda c: c.LogLayer(transports=TestTransport("t"), on_transport_error=1), TypeError,
     ()),
    ("LogLayer(plugins='redact')",
     lambda c: c.LogLayer(transports=TestTransport("t"), plugins="redact"), TypeError, ()),
    ("LogLayer(transports=[])", lambda c: c.LogLayer(transports=[]), ValueError, ()),
    ("LogBuilder(None)", lambda c: c.LogBuilder(None), TypeError,
     ("LogBuilder() needs a LogLayer, got NoneType",)),
    ("Transport(id=3)", lambda c: c.Transport(3), TypeError, ()),
    ("Transport(enabled=1)", lambda c: c.Transport(enabled=1), TypeError, ()),
    ("Transport(level='x')", lambda c: c.Transport(level="x"), ValueError, ()),
    ("Transport().send", lambda c: c.Transport("t").send(None), NotImplementedError, ()),
    ("PluginSet(on_error=1)", lambda c: c.PluginSet(on_error=1), TypeError, ()),
    ("a hook that is not callable",
     lambda c: _log(c).add_plugin(type("P", (), {"id": "p", "should_send": 3})()),
     TypeError, ("plugin 'p': should_send must be callable, got int",)),
    ("a plugin id that is not a str",
     lambda c: _log(c).add_plugin(type("P", (), {"id": 3})()), TypeError, ()),
]


def _raised(call: Callable[[ModuleType], Any], core: ModuleType) -> BaseException:
    with pytest.raises(Exception) as info:
        call(core)
    return info.value


@pytest.mark.parametrize("case, call, error, teaches", CASES, ids=[c[0] for c in CASES])
def test_both_cores_word_the_error_the_same(case, call, error, teaches):
    raised = [_raised(call, core) for core in available_cores()]
    for exc in raised:
        assert type(exc) is error, (case, exc)
        for words in teaches:
            assert words in str(exc), (case, str(exc))
    assert len({str(exc) for exc in raised}) == 1, [str(exc) for exc in raised]


@pytest.mark.parametrize("helper", ["fields_hook", "metadata_hook", "data_hook",
                                    "message_hook", "level_hook", "send_gate"])
def test_a_hook_helper_without_an_id_says_so(helper):
    make = getattr(loglayer, helper)
    with pytest.raises(TypeError) as info:
        make(_function)
    message = str(info.value)
    assert f"{helper}() needs an id first" in message, message
    assert f"{helper}('my-id', _function)" in message, message
    with pytest.raises(TypeError, match=rf"^{helper}\(\) takes the id first"):
        make(_function, "my-id")  # the two swapped
    with pytest.raises(TypeError, match=r"^fn must be callable, got int$"):
        make("my-id", 3)


def test_argument_binding_errors_differ_only_by_the_class_name():
    """A misspelled keyword is refused by the interpreter (pure) or by Cython's argument
    parsing (compiled), before loglayer's code runs: the same words, but Cython does not
    qualify ``__init__()`` with the class name, nor (the interpreter does from 3.13)
    suggest the keyword meant."""
    words = "__init__() got an unexpected keyword argument 'transport'"
    suggestion = ". Did you mean 'transports'?" if sys.version_info >= (3, 13) else ""
    for core in available_cores():
        exc = _raised(lambda c: c.LogLayer(transport=TestTransport("t")), core)
        assert type(exc) is TypeError
        if core.__name__ == "loglayer._core_py":
            assert str(exc) == f"LogLayer.{words}{suggestion}"
        else:
            assert str(exc) == words
