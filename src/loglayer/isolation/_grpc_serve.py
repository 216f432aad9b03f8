"""The plugin side of out-of-process plugins: serve any plugin object over gRPC.

``serve(plugin)`` turns a script into a plugin process that a ``GrpcPlugin`` host (or any
go-plugin host speaking ``loglayer_plugin.proto``) can launch::

    # redact_plugin.py
    from loglayer.isolation import serve

    class Redact:
        id = "redact"
        def on_before_data_out(self, params):
            return {k: "[REDACTED]" for k in params.data if k in {"password", "token"}}

    if __name__ == "__main__":
        serve(Redact())

It speaks go-plugin's side of the handshake: it refuses to run without the magic cookie
(printing go-plugin's message and exiting with status 1), listens on a Unix socket in a
private temporary directory, prints ``1|1|unix|<path>|grpc|`` on stdout, and serves, next
to the plugin's hooks (``LogLayerPlugin``, and ``LogLayerBatchStream`` for hosts that
batch), ``grpc.health.v1.Health`` (``plugin`` is SERVING),
``plugin.GRPCController/Shutdown`` and ``plugin.GRPCStdio``. It returns after a Shutdown
call or SIGTERM, once the server has stopped and the socket is removed. SIGINT is ignored,
as go-plugin plugins do, so a Ctrl-C aimed at the application does not kill its plugins
before the application stops them.

The plugin object is used unchanged: its hooks are looked up once, as a logger does, and
receive the same arguments as in process, decoded from the wire (``params`` is a
``loglayer.HookParams``; ``error`` is the serialized error; ``ctx`` is None). A hook
that raises answers with an error status; the host applies the hook's fallback and
reports a ``PluginError``. A batch runs through the kernel's ``run_hooks`` and
``allows``, the rules a logger dispatches with; each hook failure comes back to the host
with the entry's outcome.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .._common import PluginRecord, describe
from .._select import PluginSet, allows, run_hooks
from ..errors import PluginError
from ..levels import LogLevel
from . import _grpc_wire as wire
from .proto import (
    grpc_controller_pb2,
    grpc_controller_pb2_grpc,
    grpc_stdio_pb2,
    grpc_stdio_pb2_grpc,
    loglayer_plugin_pb2_grpc,
)

__all__ = ["main", "serve"]

pb = wire.pb

#: The hooks a batch runs per entry before the gate.
_ENTRY_HOOKS = frozenset(["on_before_data_out", "on_before_message_out",
                          "transform_log_level"])
# How long a stopping server lets calls in flight finish.
_STOP_GRACE = 2.0
# Chunks of stdout/stderr kept for GRPCStdio while the host is slow to read them.
_STDIO_BACKLOG = 1024


def _require_cookie() -> None:
    """Exit with go-plugin's message unless a host set the magic cookie."""
    if os.environ.get(wire.MAGIC_COOKIE_KEY) != wire.MAGIC_COOKIE_VALUE:
        sys.stderr.write(wire.NOT_A_PLUGIN_MESSAGE)
        sys.stderr.flush()
        sys.exit(1)


def _fail(context: grpc.ServicerContext, hook: str, exc: BaseException) -> None:
    context.set_code(grpc.StatusCode.UNKNOWN)
    context.set_details(f"{hook}: {describe(exc)}")


def _failure(hook: str, exc: BaseException) -> dict:
    """One entry of a batch outcome's ``failures``."""
    return {"hook": hook, "message": describe(exc)}


class _HookServicer(loglayer_plugin_pb2_grpc.LogLayerPluginServicer,
                    loglayer_plugin_pb2_grpc.LogLayerBatchStreamServicer):
    """Calls the plugin's hooks; each RPC is one hook call, DispatchBatch many, and each
    message of a DispatchBatches stream many."""

    def __init__(self, record: PluginRecord) -> None:
        self._id = record.id
        self._hooks = record.hooks
        # DispatchBatch runs the plugin as a logger would; a hook's failure goes into
        # the outcome of the entry this thread is running.
        self._plugins = PluginSet([record.plugin], on_error=self._hook_failed)
        self._runs_hooks = bool(self._plugins.hooks & _ENTRY_HOOKS)
        self._gated = "should_send" in self._plugins.hooks
        self._thread = threading.local()
        # The contexts of the open DispatchBatches streams, which end_streams cancels.
        self._streams: set[grpc.ServicerContext] = set()
        self._streams_lock = threading.Lock()

    def _hook(self, name: str, context: grpc.ServicerContext):
        fn = self._hooks.get(name)
        if fn is None:
            context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            context.set_details(f"plugin {self._id!r} has no {name} hook")
        return fn

    def Describe(self, request, context):
        return pb.DescribeResponse(id=self._id, hooks=list(self._hooks), batch=True,
                                   batch_stream=True)

    def _value_hook(self, name: str, request, context):
        fn = self._hook(name, context)
        if fn is None:
            return pb.Value()
        try:
            return pb.Value(json=wire.dumps(fn(wire.loads(request.json))))
        except Exception as exc:
            _fail(context, name, exc)
            return pb.Value()

    def OnFieldsCalled(self, request, context):
        return self._value_hook("on_fields_called", request, context)

    def OnMetadataCalled(self, request, context):
        return self._value_hook("on_metadata_called", request, context)

    def _params_hook(self, name: str, request, context) -> tuple[bool, Any]:
        """Call a dispatch hook: ``(True, result)``, or ``(False, None)`` when the call
        failed and the error status is set."""
        fn = self._hook(name, context)
        if fn is None:
            return False, None
        try:
            return True, fn(wire.decode_params(request))
        except Exception as exc:
            _fail(context, name, exc)
            return False, None

    def OnBeforeDataOut(self, request, context):
        ok, result = self._params_hook("on_before_data_out", request, context)
        return pb.Value(json=wire.dumps(result)) if ok else pb.Value()

    def OnBeforeMessageOut(self, request, context):
        ok, result = self._params_hook("on_before_message_out", request, context)
        if isinstance(result, tuple):
            result = list(result)
        return pb.Value(json=wire.dumps(result)) if ok else pb.Value()

    def TransformLogLevel(self, request, context):
        ok, result = self._params_hook("transform_log_level", request, context)
        if not ok or result is None:
            return pb.Level()
        try:
            return pb.Level(level=int(LogLevel.parse(result)))
        except ValueError as exc:
            _fail(context, "transform_log_level", exc)
            return pb.Level()

    def ShouldSend(self, request, context):
        ok, result = self._params_hook("should_send", request, context)
        return pb.Decision(send=bool(result)) if ok else pb.Decision()

    def DispatchBatch(self, request, context):
        try:
            return pb.BatchResult(outcomes=self._outcomes(request))
        except (ValueError, TypeError) as exc:  # not the documented shape
            _fail(context, "DispatchBatch", exc)
            return pb.BatchResult()

    def DispatchBatches(self, request_iterator, context) -> Iterator[pb.BatchResult]:
        """DispatchBatch for each batch of the stream, in order; a batch that does not
        have the documented shape is answered with ``error`` and the stream goes on."""
        with self._streams_lock:
            self._streams.add(context)
        try:
            for request in request_iterator:
                try:
                    result = pb.BatchResult(outcomes=self._outcomes(request))
                except (ValueError, TypeError) as exc:
                    result = pb.BatchResult(error=f"DispatchBatch: {describe(exc)}")
                yield result
        finally:
            with self._streams_lock:
                self._streams.discard(context)

    def end_streams(self) -> None:
        """Cancel the open DispatchBatches streams: a host keeps its stream open, so a
        stopping server would otherwise wait out its whole grace period for it."""
        with self._streams_lock:
            streams = list(self._streams)
        for context in streams:
            context.cancel()

    def _outcomes(self, request) -> bytes:
        """A ``Batch``'s ``BatchResult.outcomes``; ValueError or TypeError when it does not
        have the documented shape."""
        return wire.dumps(self._run_batch(wire.decode_batch(request),
                                          list(request.transport_ids)))

    def _hook_failed(self, err: PluginError) -> None:
        self._thread.failures.append(_failure(err.hook, err.__cause__ or err))

    def _run_batch(self, batch: list[Any], transport_ids: list[str]) -> list[dict | None]:
        """Run the dispatch hooks over each entry of a batch, with the in-process
        fallbacks; the gate is asked once per transport. Returns one outcome per entry
        (None: nothing changed): the data to merge, the new messages, the new level, the
        gate's answer per transport, and the hooks' failures."""
        plugins, runs_hooks = self._plugins, self._runs_hooks
        gated = self._gated and bool(transport_ids)
        outcomes: list[dict | None] = []
        append = outcomes.append
        thread = self._thread
        for params in batch:
            failures = thread.failures = []
            outcome: dict = {}
            if runs_hooks:
                data, messages, level = params.data, params.messages, params.level
                run_hooks(plugins, params)
                if params.data is not data:
                    added = {key: value for key, value in params.data.items()
                             if key not in data or data[key] is not value}
                    if added:
                        outcome["data"] = added
                if params.messages is not messages:
                    outcome["messages"] = params.messages
                if params.level is not level:
                    outcome["level"] = int(params.level)
            if gated:
                outcome["send"] = [allows(plugins, params, transport_id)
                                   for transport_id in transport_ids]
            if failures:
                outcome["failures"] = failures
            append(outcome or None)
        return outcomes


class _Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def Shutdown(self, request, context):
        self._stop.set()
        return grpc_controller_pb2.Empty()


class _StdioHub(grpc_stdio_pb2_grpc.GRPCStdioServicer):
    """go-plugin's GRPCStdio: what the plugin's code writes to ``sys.stdout`` and
    ``sys.stderr`` is streamed to the host while one is reading, and goes to the
    process's own streams otherwise (the host drains those too)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._chunks: queue.Queue = queue.Queue(_STDIO_BACKLOG)
        self._lock = threading.Lock()
        self.streaming = False

    def put(self, channel: grpc_stdio_pb2.StdioData.Channel, data: bytes) -> bool:
        """Queue a chunk for the stream; False when nobody is streaming."""
        if not self.streaming:
            return False
        with contextlib.suppress(queue.Full):  # a host that stopped reading: drop, not block
            self._chunks.put_nowait(grpc_stdio_pb2.StdioData(channel=channel, data=data))
        return True

    def StreamStdio(self, request, context) -> Iterator[grpc_stdio_pb2.StdioData]:
        with self._lock:
            if self.streaming:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "stdio is already streamed")
            self.streaming = True
        try:
            while context.is_active():
                try:
                    chunk = self._chunks.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():  # stopping, and everything written was sent
                        break
                    continue
                yield chunk
        finally:
            self.streaming = False


class _StdioWriter(io.TextIOBase):
    """A text stream that feeds the GRPCStdio hub, or its original stream.

    Line-buffered, as a terminal's ``sys.stderr`` is: ``print(x)`` writes ``x`` and
    ``"\\n"`` in two calls, and as two chunks a host that stops reading between them
    would show a line without its end. A partial line goes with the next newline, or
    on ``flush()`` (``serve`` flushes both streams before it stops).
    """

    def __init__(self, hub: _StdioHub, channel: grpc_stdio_pb2.StdioData.Channel,
                 original: Any) -> None:
        self._hub = hub
        self._channel = channel
        self._original = original
        self._lock = threading.Lock()
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines, newline, self._partial = (self._partial + text).rpartition("\n")
        self._send(lines + newline)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            partial, self._partial = self._partial, ""
        self._send(partial)
        self._original.flush()

    def _send(self, text: str) -> None:
        if text and not self._hub.put(self._channel, text.encode("utf-8", "replace")):
            self._original.write(text)


def serve(plugin: Any, *, max_workers: int = 8) -> None:
    """Serve ``plugin``'s hooks to the host that started this process; return on shutdown.

    ``plugin`` is any plugin object (an ``id`` and zero or more hook methods). Hooks may
    run concurrently on up to ``max_workers`` threads, as they may in process. Without the
    magic cookie in the environment this prints go-plugin's "This binary is a plugin"
    message to stderr and exits with status 1.
    """
    _require_cookie()
    record = PluginRecord(plugin)
    stop = threading.Event()
    socket_dir = tempfile.mkdtemp(prefix=wire.SOCKET_DIR_PREFIX,
                                  dir=os.environ.get(wire.ENV_UNIX_SOCKET_DIR) or None)
    path = os.path.join(socket_dir, "plugin.sock")
    # One thread more than asked for: a host's batch stream holds one for as long as it is
    # open, which must not leave fewer threads to the host's other calls.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers + 1,
                                                    thread_name_prefix="loglayer-plugin"))
    health_servicer = health.HealthServicer()
    for name in ("", wire.HEALTH_SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    hooks = _HookServicer(record)
    loglayer_plugin_pb2_grpc.add_LogLayerPluginServicer_to_server(hooks, server)
    loglayer_plugin_pb2_grpc.add_LogLayerBatchStreamServicer_to_server(hooks, server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stop), server)
    hub = _StdioHub(stop)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(hub, server)
    stdout, stderr = sys.stdout, sys.stderr
    try:
        server.add_insecure_port("unix:" + path)
        server.start()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        line = (f"{wire.CORE_PROTOCOL_VERSION}|{wire.APP_PROTOCOL_VERSION}|unix|{path}|grpc|\n")
        stdout.flush()
        os.write(stdout.fileno(), line.encode())
        sys.stdout = _StdioWriter(hub, grpc_stdio_pb2.StdioData.STDOUT, stdout)
        sys.stderr = _StdioWriter(hub, grpc_stdio_pb2.StdioData.STDERR, stderr)
        stop.wait()
        sys.stdout.flush()  # a partial last line, while the host may still stream it
        sys.stderr.flush()
        health_servicer.enter_graceful_shutdown()
        stopped = server.stop(_STOP_GRACE)  # no new calls from here on
        hooks.end_streams()
        stopped.wait()
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        server.stop(None)
        shutil.rmtree(socket_dir, ignore_errors=True)


def main(argv: list[str]) -> NoReturn:
    """``python -m loglayer.isolation.serve module:factory``: serve ``factory()``."""
    if len(argv) != 1 or ":" not in argv[0]:
        sys.stderr.write("usage: python -m loglayer.isolation.serve module:factory\n"
                         "  serves the plugin that factory() returns (called with no "
                         "arguments) to the loglayer host that started this process\n")
        sys.exit(2)
    _require_cookie()
    module_name, _, attribute = argv[0].partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    serve(target())
    sys.exit(0)
