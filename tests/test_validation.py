"""One rule for bad arguments, across the constructors (SPEC §2).

A wrong TYPE raises ``TypeError``, a bad VALUE of the right type raises ``ValueError``,
and the message reads ``<name> must be <what is allowed>, got <type name or repr>``.
``from_config`` puts the key's path and a colon in front of the name. Through the
public API only, so it holds for whichever core is live (``make test`` runs the suite
with and without ``LOGLAYER_NO_EXTENSIONS``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from loglayer import (
    BlankTransport,
    ConsoleTransport,
    FileTransport,
    LogLayer,
    QueueTransport,
    StructuredTransport,
)
from loglayer.plugins import filter, otel_trace, redact, sampling


def _inner() -> BlankTransport:
    return BlankTransport(lambda entry: None, id="inner")


def _grpc(*args: Any, **kwargs: Any) -> Any:
    pytest.importorskip("grpc")
    from loglayer.isolation import GrpcPlugin

    return GrpcPlugin(*args, **kwargs)


def _wasm(**kwargs: Any) -> Any:
    pytest.importorskip("wasmtime")
    from loglayer.isolation import WasmPlugin

    return WasmPlugin(b"\0asm", **kwargs)  # the arguments are checked before the module


_CMD = [sys.executable, "-c", "pass"]  # never started: the arguments are checked first
_LEVELS = "trace, debug, info, warn, error, fatal, warning, critical, or 5, 10, 20, 30, 40, 50"

CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # the logger, and the same values through the configuration
    ("LogLayer fields_key ''", lambda: LogLayer(fields_key=""), ValueError,
     "fields_key must be a non-empty str or None, got ''"),
    ("config fields_key ''", lambda: LogLayer.from_config({"fields_key": ""}), ValueError,
     "fields_key: must be a non-empty str or None, got ''"),
    ("LogLayer fields_key 3", lambda: LogLayer(fields_key=3), TypeError,
     "fields_key must be a non-empty str or None, got int"),
    ("config fields_key 3", lambda: LogLayer.from_config({"fields_key": 3}), TypeError,
     "fields_key: must be a non-empty str or None, got int"),
    ("LogLayer error_key None", lambda: LogLayer(error_key=None), TypeError,
     "error_key must be a non-empty str, got None"),
    ("config error_key None", lambda: LogLayer.from_config({"error_key": None}), TypeError,
     "error_key: must be a non-empty str, got None"),
    ("LogLayer mute_fields 1", lambda: LogLayer(mute_fields=1), TypeError,
     "mute_fields must be a bool, got int"),
    ("config mute_fields 1", lambda: LogLayer.from_config({"mute_fields": 1}), TypeError,
     "mute_fields: must be a bool, got int"),
    ("LogLayer fields list", lambda: LogLayer(fields=[("a", 1)]), TypeError,
     "fields must be a mapping, got list"),
    ("config fields list", lambda: LogLayer.from_config({"fields": [("a", 1)]}), TypeError,
     "fields: must be a mapping, got list"),
    ("config level 'loud'", lambda: LogLayer.from_config({"level": "loud"}), ValueError,
     f"level: must be a log level ({_LEVELS}), got 'loud'"),
    ("config level list", lambda: LogLayer.from_config({"level": ["info"]}), TypeError,
     "level: must be a LogLevel, an int or a str, got list"),
    ("config option value", lambda: LogLayer.from_config({"transports": [
        {"name": "file", "options": {"path": "x.log", "backups": 0}}]}), ValueError,
     "transports[0].options.backups: must be at least 1, got 0"),
    ("config option type", lambda: LogLayer.from_config({"transports": [
        {"name": "file", "options": {"path": "x.log", "backups": "5"}}]}), TypeError,
     "transports[0].options.backups: must be int, got str"),
    ("config plugin value", lambda: LogLayer.from_config({"plugins": [
        {"name": "sampling.fixed_rate", "options": {"rate": 2}}]}), ValueError,
     "plugins[0].options.rate: must be between 0 and 1, got 2"),
    ("config bool for int", lambda: LogLayer.from_config({"plugins": [
        {"name": "sampling.burst", "options": {"n": True, "per_seconds": 1}}]}), TypeError,
     "plugins[0].options.n: must be int, got bool"),
    # QueueTransport
    ("queue max_size '5'", lambda: QueueTransport(_inner(), max_size="5"), TypeError,
     "max_size must be an int, got str"),
    ("queue max_size 0", lambda: QueueTransport(_inner(), max_size=0), ValueError,
     "max_size must be at least 1, got 0"),
    ("queue max_size True", lambda: QueueTransport(_inner(), max_size=True), TypeError,
     "max_size must be an int, got bool"),
    ("queue batch_size 2.0", lambda: QueueTransport(_inner(), batch_size=2.0), TypeError,
     "batch_size must be an int, got float"),
    ("queue flush_interval '1'", lambda: QueueTransport(_inner(), flush_interval="1"),
     TypeError, "flush_interval must be a number, got str"),
    ("queue flush_interval 0", lambda: QueueTransport(_inner(), flush_interval=0), ValueError,
     "flush_interval must be above 0, got 0"),
    ("queue overflow 'spill'", lambda: QueueTransport(_inner(), overflow="spill"), ValueError,
     "overflow must be one of 'drop_newest', 'drop_oldest', 'block', got 'spill'"),
    ("queue overflow None", lambda: QueueTransport(_inner(), overflow=None), TypeError,
     "overflow must be one of 'drop_newest', 'drop_oldest', 'block', got None"),
    ("queue on_drop 3", lambda: QueueTransport(_inner(), on_drop=3), TypeError,
     "on_drop must be callable or None, got int"),
    # FileTransport
    ("file path ''", lambda: FileTransport(""), ValueError,
     "path must be a non-empty str, got ''"),
    ("file path 3", lambda: FileTransport(3), TypeError,
     "path must be a str or os.PathLike, got int"),
    ("file rotate_bytes True", lambda: FileTransport("x.log", rotate_bytes=True), TypeError,
     "rotate_bytes must be an int or None, got bool"),
    ("file rotate_bytes 0", lambda: FileTransport("x.log", rotate_bytes=0), ValueError,
     "rotate_bytes must be at least 1, got 0"),
    ("file rotate_when 'weekly'", lambda: FileTransport("x.log", rotate_when="weekly"),
     ValueError, "rotate_when must be one of 'midnight', 'hourly', got 'weekly'"),
    ("file rotate_when list", lambda: FileTransport("x.log", rotate_when=[1]), TypeError,
     "rotate_when must be 'midnight', 'hourly', a number of seconds or None, got list"),
    ("file rotate_when -1", lambda: FileTransport("x.log", rotate_when=-1), ValueError,
     "rotate_when must be above 0, got -1"),
    ("file backups '5'", lambda: FileTransport("x.log", backups="5"), TypeError,
     "backups must be an int, got str"),
    ("file compress 1", lambda: FileTransport("x.log", compress=1), TypeError,
     "compress must be a bool, got int"),
    ("file time_format 'rfc'", lambda: FileTransport("x.log", time_format="rfc"), ValueError,
     "time_format must be one of 'iso', 'epoch', 'epoch_ms', 'epoch_ns', None, got 'rfc'"),
    ("file time_format 1", lambda: FileTransport("x.log", time_format=1), TypeError,
     "time_format must be one of 'iso', 'epoch', 'epoch_ms', 'epoch_ns', None, got int"),
    ("file format 'xml'", lambda: FileTransport("x.log", format="xml"), ValueError,
     "format must be one of 'json', 'text', got 'xml'"),
    ("file format 3", lambda: FileTransport("x.log", format=3), TypeError,
     "format must be 'json', 'text' or an object with a render(entry) method, got int"),
    # the other transports
    ("structured stream 5", lambda: StructuredTransport(5), TypeError,
     "stream must be None, a path, or an object with a write() method, got int"),
    ("console colors 'yes'", lambda: ConsoleTransport(colors="yes"), TypeError,
     "colors must be a bool or None, got str"),
    ("console stream 1", lambda: ConsoleTransport(1), TypeError,
     "stream must be None or have a write() method, got int"),
    ("blank fn 'x'", lambda: BlankTransport("x"), TypeError, "fn must be callable, got str"),
    # plugins
    ("redact censor 0", lambda: redact(keys=["a"], censor=0), TypeError,
     "censor must be a str, got int"),
    ("filter predicate 1", lambda: filter(predicate=1), TypeError,
     "predicate must be callable or None, got int"),
    ("otel key ''", lambda: otel_trace(trace_id_key=""), ValueError,
     "trace_id_key must be a non-empty str, got ''"),
    ("otel key 1", lambda: otel_trace(span_id_key=1), TypeError,
     "span_id_key must be a non-empty str, got int"),
    ("fixed_rate 2", lambda: sampling.fixed_rate(2), ValueError,
     "rate must be between 0 and 1, got 2"),
    ("fixed_rate '0.5'", lambda: sampling.fixed_rate("0.5"), TypeError,
     "rate must be a number, got str"),
    ("fixed_rate True", lambda: sampling.fixed_rate(True), TypeError,
     "rate must be a number, got bool"),
    ("burst n True", lambda: sampling.burst(True, 1), TypeError, "n must be an int, got bool"),
    ("burst n 0", lambda: sampling.burst(0, 1), ValueError, "n must be at least 1, got 0"),
    ("burst per_seconds inf", lambda: sampling.burst(1, float("inf")), ValueError,
     "per_seconds must be finite, got inf"),
    ("burst per_seconds 0", lambda: sampling.burst(1, 0), ValueError,
     "per_seconds must be above 0, got 0"),
    ("per_level unknown level", lambda: sampling.per_level({"loud": 0.5}), ValueError,
     f"rates['loud'] must be a log level ({_LEVELS}), got 'loud'"),
    ("per_level keep_levels [None]", lambda: sampling.per_level({}, keep_levels=[None]),
     TypeError, "keep_levels[0] must be a LogLevel, an int or a str, got None"),
    # the plugin hosts
    ("grpc cmd []", lambda: _grpc([]), ValueError,
     "cmd must be a non-empty sequence of str, got []"),
    ("grpc cmd [1]", lambda: _grpc([1]), TypeError,
     "cmd[0] must be a str or os.PathLike, got int"),
    ("grpc timeout '1'", lambda: _grpc(_CMD, timeout="1"), TypeError,
     "timeout must be a number, got str"),
    ("grpc timeout 0", lambda: _grpc(_CMD, timeout=0), ValueError,
     "timeout must be above 0, got 0"),
    ("grpc max_restarts True", lambda: _grpc(_CMD, max_restarts=True), TypeError,
     "max_restarts must be an int, got bool"),
    ("grpc restart 'sometimes'", lambda: _grpc(_CMD, restart="sometimes"), ValueError,
     "restart must be one of 'always', 'never', got 'sometimes'"),
    ("grpc env list", lambda: _grpc(_CMD, env=["A=1"]), TypeError,
     "env must be a mapping, got list"),
    ("wasm fuel 1.5", lambda: _wasm(fuel=1.5), TypeError, "fuel must be an int or None, got float"),
    ("wasm fuel 0", lambda: _wasm(fuel=0), ValueError, "fuel must be at least 1, got 0"),
    ("wasm timeout '1'", lambda: _wasm(timeout="1"), TypeError,
     "timeout must be a number or None, got str"),
    ("wasm reload 1", lambda: _wasm(reload=1), TypeError, "reload must be a bool, got int"),
    ("wasm memory_limit 1000", lambda: _wasm(memory_limit=1000), ValueError,
     "memory_limit must be at least 65536, got 1000"),
]


@pytest.mark.parametrize(("build", "error", "message"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_arguments_follow_the_rule(build, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a FileTransport would open "x.log" (none does)
    with pytest.raises(error) as info:
        build()
    assert type(info.value) is error
    assert message in str(info.value)
    assert list(tmp_path.iterdir()) == []  # refused before anything was opened
