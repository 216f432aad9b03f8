"""Wrong calls a type checker must reject: each line marked ``# rejected`` is an error for
``mypy --strict`` and ``pyright --strict``, and no other line is (tests/test_typing.py).
Never run: several of these raise at run time too, with the messages
tests/test_error_messages.py checks.
"""

from __future__ import annotations

from loglayer import LogLayer, QueueTransport, data_hook, from_config
from loglayer.typing import LogEntry


class NoSend:
    def write(self, entry: LogEntry) -> None: ...


def wrong_calls(log: LogLayer) -> None:
    LogLayer(transports=42)  # rejected
    LogLayer(transports=[NoSend()])  # rejected
    LogLayer(transports="console")  # rejected
    LogLayer(level=3.5)  # rejected
    LogLayer(plugins=[object()])  # rejected
    log.add_plugin("redact")  # rejected
    log.add_transport(NoSend())  # rejected
    log.info("x", foo=1)  # rejected
    log.with_metadata({"a": 1}).info("x", user="ada")  # rejected
    log.with_error("not an exception")  # rejected
    log.set_level(None)  # rejected
    data_hook(print)  # rejected
    QueueTransport(NoSend())  # rejected
    from_config(["not", "a", "mapping"])  # rejected
    fine: LogLayer = log.child().with_fields(a=1)
    fine.info("this line is fine", 1, None)
