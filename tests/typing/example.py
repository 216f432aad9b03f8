"""loglayer's public API as a typed program uses it: checked by ``mypy --strict`` and
``pyright --strict`` (tests/test_typing.py), and run, so it stays true at run time.

Nothing here is clever: each line is what the README and a newcomer would write.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import loglayer
from loglayer import (
    BlankTransport,
    ConsoleTransport,
    LogBuilder,
    LogLayer,
    LogLevel,
    Plugin,
    QueueTransport,
    StructuredTransport,
    data_hook,
    from_config,
    lazy,
    level_hook,
    send_gate,
)
from loglayer.errors import PluginError, TransportError
from loglayer.typing import (
    DataPlugin,
    FullTransport,
    HookParams,
    LevelLike,
    LogEntry,
    SendGate,
    Transport,
)


class ListTransport:
    """A transport without a base class: ``send`` is all a logger needs."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def send(self, entry: LogEntry, /) -> None:
        self.entries.append(entry)


class RequestId(Plugin):
    """A plugin class whose hook a checker verifies (it declares ``DataPlugin``)."""

    def __init__(self, request_id: str) -> None:
        super().__init__("request-id")
        self.request_id = request_id

    def on_before_data_out(self, params: HookParams, /) -> Mapping[str, Any] | None:
        return {"request_id": self.request_id}


def shout(params: HookParams) -> LevelLike | None:
    return "warn" if any("!" in str(m) for m in params.messages) else None


def only_console(params: HookParams) -> bool:
    return params.transport_id != "quiet"


def build() -> tuple[LogLayer, ListTransport]:
    captured = ListTransport()
    errors: list[TransportError] = []
    plugin: DataPlugin = RequestId("r-1")
    gate: SendGate = only_console
    log = LogLayer(
        transports=[captured, ConsoleTransport(io.StringIO(), colors=False, id="console")],
        plugins=[plugin, level_hook("shout", shout)],
        level="debug",
        fields={"service": "api"},
        prefix="[api]",
        error_key="error",
        on_transport_error=errors.append,
    )
    log.add_plugin(send_gate("gate", gate), data_hook("n", lambda p: {"n": len(p.messages)}))
    log.add_transport(BlankTransport(lambda entry: None, id="quiet"))
    return log, captured


def use(log: LogLayer, captured: ListTransport) -> None:
    log.info("hello", 1, {"any": "object"})
    log.with_fields(user="ada", attempt=lazy(lambda: 3)).warn("slow!")
    builder: LogBuilder = log.with_metadata({"order": 7}).with_error(ValueError("no"))
    builder.error("could not pay")
    log.with_error(KeyError("k")).with_metadata(("any", "shape")).debug("lookup")
    child = log.child().with_prefix("[child]").with_context({"trace": "t-1"})
    child.set_level(LogLevel.INFO)
    child.enable_level(10)
    assert child.is_level_enabled("debug")
    child.without_fields("service").info("bare")
    child.error_only(RuntimeError("down"), level="fatal", copy_msg=True)
    child.metadata_only({"k": "v"})
    child.raw("trace", ["raw", "message"], fields={"x": 1}, ctx=None)
    try:
        raise OSError("disk")
    except OSError:
        log.exception("failed")
    fields: dict[str, Any] = log.get_fields()
    assert fields["service"] == "api"
    assert log.plugin_ids()[0] == "request-id"
    assert isinstance(log.get_plugin("request-id"), RequestId)
    assert all(isinstance(entry, LogEntry) for entry in captured.entries)


def queued() -> None:
    inner = ListTransport()
    queue = QueueTransport(inner, max_size=100, overflow="drop_newest", id="queue")
    full: FullTransport = queue
    transport: Transport = inner
    with LogLayer(transports=[full, transport], level=LogLevel.INFO) as log:
        log.info("through the queue")
        log.flush()
    assert inner.entries and inner.entries[0].messages == ["through the queue"]


def configured() -> LogLayer:
    log = from_config({
        "level": "info",
        "fields": {"app": "shop"},
        "transports": [{"name": "structured", "options": {"stream": io.StringIO()}}],
        "plugins": [{"name": "redact", "options": {"keys": ["password"]}}],
    })
    same = LogLayer.from_config({"transports": [{"name": "blank",
                                                 "options": {"fn": print}}]})
    log.with_metadata({"password": "hunter2"}).info("signed in")
    return same


def on_plugin_error(error: PluginError) -> None:
    print(error.plugin_id, error.hook)


def main() -> None:
    log, captured = build()
    use(log, captured)
    queued()
    configured().close()
    StructuredTransport(io.StringIO(), time_format=None).close()
    loglayer.log.debug("the ready logger is a LogLayer too")


if __name__ == "__main__":
    main()
