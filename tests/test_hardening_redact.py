"""Issue 17, hardening of ``redact``: it fails closed, and checks the text that is rendered.

Every test runs on both cores (the ``core`` fixture); ``make test`` runs the file a second
time with ``LOGLAYER_NO_EXTENSIONS=1``, which also swaps the compiled Cloner walk for the
pure one, so each behaviour is checked on both walks too.
"""

from __future__ import annotations

import collections.abc
import io
from typing import Any

import pytest

import loglayer
from loglayer import ConsoleTransport, StructuredTransport
from loglayer.plugins import redact
from loglayer.testing import TestTransport
from loglayer.utils import Cloner

CENSOR = "[REDACTED]"
PASSWORD = "hunter2"
CARD = "4111111111111111"
CARD_RE = r"\b\d{16}\b"


# -- values that cannot be inspected -----------------------------------------------------


class UnboundProxy:
    """An unbound proxy (werkzeug's ``LocalProxy``, ``lazy_object_proxy``) whose
    ``__class__``, attributes, ``__eq__``, ``__hash__`` and ``__str__`` all raise."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("working outside of request context")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("working outside of request context")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("working outside of request context")

    def __hash__(self) -> int:
        raise RuntimeError("working outside of request context")

    def __str__(self) -> str:
        raise RuntimeError("working outside of request context")

    def __repr__(self) -> str:
        return "<UnboundProxy unbound>"


class Opaque:
    """Every attribute access raises (``__getattribute__``), ``__class__`` included."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __repr__(self) -> str:
        return "<Opaque>"


class BadText(str):
    """A str whose ``__eq__`` and ``__hash__`` raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")


class BadKey(str):
    """A str key that hashes like the text it holds but whose ``__eq__`` raises, so
    asking whether ``BadKey("password")`` is a secret key raises."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")


class BrokenMapping(collections.abc.Mapping):
    """A mapping whose items cannot be read (but whose repr can)."""

    def __getitem__(self, key: object) -> Any:
        raise RuntimeError("getitem")

    def __iter__(self):
        raise RuntimeError("iter")

    def __len__(self) -> int:
        return 1


class BrokenRecord:
    """A plain object whose ``__dict__`` raises when read."""

    def __init__(self) -> None:
        object.__setattr__(self, "password", PASSWORD)

    @property  # type: ignore[misc]
    def __dict__(self) -> dict:  # type: ignore[override]
        raise RuntimeError("dict")


HOSTILE = {
    "unbound-proxy": UnboundProxy,
    "getattribute-raises": Opaque,
    "str-eq-raises": lambda: BadText("x"),
    "mapping-items-raise": BrokenMapping,
    "record-dict-raises": BrokenRecord,
}


def _outputs(core, *plugins, **options):
    """A logger on ``core`` writing to a TestTransport, a JSON stream and a console."""
    tt = TestTransport("tt")
    json_out, console_out = io.StringIO(), io.StringIO()
    log = core.LogLayer(transports=[
        tt, StructuredTransport(stream=json_out, id="json", time_format=None),
        ConsoleTransport(stream=console_out, colors=False, show_time=False, id="console")],
        plugins=plugins, **options)
    return log, tt, json_out, console_out


def _written(json_out: io.StringIO, console_out: io.StringIO) -> str:
    return json_out.getvalue() + console_out.getvalue()


@pytest.fixture
def no_context_fields():
    yield
    loglayer.clear_contextvars()


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_constructor_fields(core, make):
    log, tt, json_out, console_out = _outputs(
        core, redact(keys=("password",)),
        fields={"password": PASSWORD, "odd": make(), "user": "ada"})
    log.info("hello")
    data = tt.last_line().data
    assert data["password"] == CENSOR and data["odd"] == CENSOR and data["user"] == "ada"
    assert PASSWORD not in _written(json_out, console_out)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_raw_fields(core, make):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.raw("info", ["hello"], fields={"password": PASSWORD, "odd": [make()], "n": 1})
    data = tt.last_line().data
    assert data == {"password": CENSOR, "odd": [CENSOR], "n": 1}
    assert PASSWORD not in _written(json_out, console_out)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_context_fields(
        core, make, no_context_fields):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    loglayer.bind_contextvars(password=PASSWORD, odd={"inner": make()}, request_id="r1")
    log.info("hello")
    data = tt.last_line().data
    assert data == {"password": CENSOR, "odd": {"inner": CENSOR}, "request_id": "r1"}
    assert PASSWORD not in _written(json_out, console_out)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_metadata_and_fields_hooks_censor_what_they_cannot_inspect(core, make):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.with_metadata({"password": PASSWORD, "odd": make(), "user": "ada"}).info("m")
    assert tt.last_line().metadata == {"password": CENSOR, "odd": CENSOR, "user": "ada"}
    log.with_fields({"password": PASSWORD, "odd": make()}).info("f")
    assert tt.last_line().data == {"password": CENSOR, "odd": CENSOR}
    assert PASSWORD not in _written(json_out, console_out)


def test_a_key_that_cannot_be_checked_has_its_value_censored(core):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.with_metadata({BadKey("password"): PASSWORD, "user": "ada"}).info("m")
    metadata = tt.last_line().metadata
    assert list(metadata.values()) == [CENSOR, "ada"]
    log.raw("info", ["r"], fields={"nested": {BadKey("password"): PASSWORD}})
    assert list(tt.last_line().data["nested"].values()) == [CENSOR]
    assert PASSWORD not in _written(json_out, console_out)


def test_a_key_predicate_that_raises_censors_instead_of_passing(core):
    def is_secret(key: str) -> bool:
        if key == "odd":
            raise RuntimeError("predicate failed")
        return key == "password"

    log, tt, json_out, console_out = _outputs(core, redact(keys=is_secret),
                                              fields={"password": PASSWORD, "user": "ada"})
    log.with_metadata({"odd": PASSWORD, "fine": 1}).info("m")
    assert tt.last_line().metadata == {"odd": CENSOR, "fine": 1}
    assert tt.last_line().data == {"password": CENSOR, "user": "ada"}
    assert PASSWORD not in _written(json_out, console_out)


def test_a_message_that_cannot_be_inspected_is_censored(core):
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    log.info("card", CARD, UnboundProxy())
    assert tt.last_line().messages == ["card", CENSOR, CENSOR]
    assert CARD not in _written(json_out, console_out)


def test_the_data_hook_fails_closed_when_the_walk_fails_as_a_whole(core, monkeypatch):
    plugin = redact(keys=("password",))

    def broken(value: object) -> object:
        raise RuntimeError("walk failed")

    # The last resort of the hook: a walk that raises is never expected of a strict
    # Cloner, but if one does, every top-level key not proven clean is censored.
    cloner = plugin.cloner
    changes = cloner._data_changes({"password": PASSWORD, "odd": UnboundProxy(), "n": 1,
                                    "user": "ada"}, CENSOR)
    assert changes == {"password": CENSOR, "odd": CENSOR}
    monkeypatch.setattr(type(plugin), "on_before_data_out",
                        type(plugin).on_before_data_out)  # the pure hook, not the compiled one
    object.__setattr__(cloner, "_censored", broken)
    params = type("P", (), {"data": {"password": PASSWORD, "user": "ada"}})()
    assert type(plugin).on_before_data_out(plugin, params) == {"password": CENSOR}


def test_strict_cloner_censors_what_it_cannot_inspect_non_strict_passes_it_on():
    value = {"a": UnboundProxy(), "b": [Opaque(), "ok"], "c": BrokenMapping()}
    strict = Cloner("password", strict=True)
    assert strict.needs_clone(value)
    assert strict.censored(value) == {"a": CENSOR, "b": [CENSOR, "ok"], "c": CENSOR}
    assert strict.clone(value) == {"a": CENSOR, "b": [CENSOR, "ok"], "c": CENSOR}
    lenient = Cloner("password")
    mapping = BrokenMapping()
    assert lenient.clone({"c": mapping})["c"] is mapping  # a leaf, as before
    with pytest.raises(RuntimeError):
        lenient.clone({"a": UnboundProxy()})


def test_each_censored_failure_is_reported_under_its_hook(core):
    errors: list = []
    plugin = redact(keys=("password",))
    plugin.on_error = errors.append
    log, tt, _, _ = _outputs(core, plugin, fields={"odd": UnboundProxy()})
    log.with_metadata({"odd": Opaque()}).info("m")
    hooks = [err.hook for err in errors]
    assert hooks == ["on_metadata_called", "on_before_data_out"]
    assert all(isinstance(err, loglayer.PluginError) and err.plugin_id == "redact"
               and isinstance(err.__cause__, RuntimeError) for err in errors)
    assert tt.last_line().data == {"odd": CENSOR}
