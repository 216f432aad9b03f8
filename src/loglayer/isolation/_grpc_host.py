"""The host side of out-of-process plugins: ``GrpcPlugin`` runs a plugin in a child
process and calls its hooks over gRPC, so that a plugin that crashes, hangs or misbehaves
cannot take the application or its logging down with it.

The child may be any program that speaks HashiCorp go-plugin's gRPC protocol with
``loglayer_plugin.proto``: a Python script calling :func:`loglayer.isolation.serve`, or a
Go binary built on ``github.com/hashicorp/go-plugin``. The host does go-plugin's part of
the handshake (the magic cookie and ``PLUGIN_PROTOCOL_VERSIONS`` in the environment, the
``CORE|APP|unix|ADDR|grpc|`` line on stdout, the ``plugin`` health check, then
``GRPCStdio`` when the plugin has it and ``GRPCController/Shutdown`` to stop it).

Failures follow the in-process rules by default. A deadline miss, a lost connection, a
dead process or an error answer makes the hook raise :class:`RemoteCallError`, so the
logger applies that hook's fallback (a send gate fails open, a data hook merges nothing...)
and reports a ``PluginError`` to ``on_error`` or stderr. A log call never raises because of
a plugin and never waits longer than the deadline for it: once a hook of an entry misses
its deadline, the plugin's other hooks skip that entry at once.

A supervisor thread per plugin starts the child, restarts it when it dies (at once, then
with backoff while starts keep failing, at most ``max_restarts`` times per
``restart_window`` seconds) and disables it with one error when a restart is not possible
or the new child describes different hooks. A disabled or closed plugin is a no-op: input
hooks pass their value through, dispatch hooks change nothing, the gate lets entries pass.

Those fallbacks write what the plugin never saw, which for a redaction plugin is the secret
it exists to remove. ``fail_closed=True`` turns them around: an entry the plugin could not
process is refused, never sent. Such a plugin always has a send gate (whether or not the
child describes one), and the gate refuses an entry when one of the plugin's hooks failed
on it (an error, a bad answer, a missed deadline) and every entry while the plugin is
down, disabled or closed; ``dispatch_batch`` answers such entries with a refusal for every
transport. An input hook that cannot run drops its value (metadata, or the fields of a
``with_fields`` call), which is what the logger does when such a hook fails. Each refused
entry is reported once, as a ``PluginError`` (hook ``should_send``, or ``dispatch_batch``
once per batch) whose cause has the reason ``"refused"``. The guarantee holds wherever the
gate is asked before an entry is written, as a logger and a ``QueueTransport`` do; it
covers what reaches the transports, not what a process-wide tap (``loglayer_capture``)
sees: a tap ignores every gate.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import grpc
import orjson
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .. import _lifecycle
from .._common import describe, plugin_failed
from .._select import LogLayer
from .._validate import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_mapping,
    check_number,
    check_type,
    type_name,
)
from ..errors import PluginError
from ..levels import LogLevel
from ..plugin import HOOK_NAMES
from . import _grpc_wire as wire
from .proto import (
    grpc_controller_pb2,
    grpc_controller_pb2_grpc,
    grpc_stdio_pb2,
    grpc_stdio_pb2_grpc,
    loglayer_plugin_pb2_grpc,
)

__all__ = ["BatchOutcome", "GrpcPlugin", "RemoteCallError"]

pb = wire.pb

# The hook RPCs by hook name, plus the batched dispatch.
_METHODS = {
    "on_fields_called": "OnFieldsCalled",
    "on_metadata_called": "OnMetadataCalled",
    "on_before_data_out": "OnBeforeDataOut",
    "on_before_message_out": "OnBeforeMessageOut",
    "transform_log_level": "TransformLogLevel",
    "should_send": "ShouldSend",
    "dispatch_batch": "DispatchBatch",
}
_CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 0),  # a failed call is reported, never silently repeated
    ("grpc.use_local_subchannel_pool", 1),  # one connection per child, shared with no one
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]
_STDERR_TAIL = 20  # stderr lines quoted when a start fails
_MAX_LINE = 65536  # a longer output line is cut into pieces
_BATCH_ENTRY_BUDGET = 0.001  # seconds of deadline added per entry of a batch
_BACKOFF_FIRST, _BACKOFF_MAX = 0.2, 5.0  # between failed restart attempts
_HCLOG_LEVELS = {"trace": LogLevel.TRACE, "debug": LogLevel.DEBUG, "info": LogLevel.INFO,
                 "warn": LogLevel.WARN, "warning": LogLevel.WARN, "error": LogLevel.ERROR}

# On Linux the child is started through this launcher, which asks the kernel to SIGKILL it
# when the thread that started it (the plugin's supervisor) dies, then execs the plugin,
# so a plugin never outlives the application, however the application ends. (A
# ``preexec_fn`` would do the same without a launcher, but is unsafe in a threaded process.)
_LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
try:
    os.execv(sys.argv[2], sys.argv[3:])
except OSError as exc:
    sys.stderr.write(f"cannot run {sys.argv[2]!r}: {exc}\\n")
    os._exit(127)
"""

class RemoteCallError(Exception):
    """A call to an out-of-process plugin failed; the cause of the ``PluginError``.

    ``reason`` is ``"deadline"`` (no answer in time), ``"unavailable"`` (the connection
    was lost, typically because the process died), ``"down"`` (no process: restarting),
    ``"raised"`` (the plugin's hook failed; the message is the plugin's),
    ``"bad-response"`` (an answer that does not decode, or with ``fail_closed`` one the
    logger would reject) or ``"refused"`` (with ``fail_closed``: an entry was not sent;
    the message says why).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class BatchOutcome(NamedTuple):
    """What a plugin's dispatch hooks made of one entry of a batch.

    ``data`` is the entry's data with the data hooks' results merged (the entry's own dict
    when nothing was merged), ``messages`` and ``level`` the final ones, ``send`` the send
    gate's decision for each transport ID asked about, in order. Failed hooks have had
    their fallbacks applied and been reported. (A named tuple: the batch path builds a
    hundred of them per call, and a tuple is the cheapest record to build.)
    """

    level: LogLevel
    messages: list
    data: dict
    send: tuple[bool, ...]


class _StartError(Exception):
    """A child could not be started, handshaken, health-checked or described."""


class _Child:
    """One plugin process and the gRPC connection to it."""

    def __init__(self, host: GrpcPlugin, proc: subprocess.Popen) -> None:
        self.host = host
        self.proc = proc
        self.pid = proc.pid
        self.handshake: queue.Queue = queue.Queue(1)
        self.exited = threading.Event()
        self.stderr_tail: collections.deque = collections.deque(maxlen=_STDERR_TAIL)
        self.channel: grpc.Channel | None = None
        self.methods: dict = {}
        self.health: health_pb2_grpc.HealthStub | None = None
        self.hooks: tuple = ()
        self.remote_id = ""
        self.batch = False
        self.batch_stream: _BatchStream | None = None
        self.suspect = False
        self.stdio_call: Any = None
        self.socket_path: str | None = None
        self.threads = [
            threading.Thread(target=self._read_stdout, name=f"loglayer-grpc-out-{self.pid}",
                             daemon=True),
            threading.Thread(target=self._read_stderr, name=f"loglayer-grpc-err-{self.pid}",
                             daemon=True),
            threading.Thread(target=self._wait, name=f"loglayer-grpc-wait-{self.pid}",
                             daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    # -- the child's output ----------------------------------------------------------

    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None  # GrpcPlugin._spawn starts the child with stdout=PIPE
        first = True
        for line in iter(lambda: stream.readline(_MAX_LINE), b""):
            if first:
                first = False
                self.handshake.put(line)
            else:
                self.host._surface("stdout", line, self.pid)
        if first:
            self.handshake.put(None)
        stream.close()

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None  # GrpcPlugin._spawn starts the child with stderr=PIPE
        for line in iter(lambda: stream.readline(_MAX_LINE), b""):
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())
            self.host._surface("stderr", line, self.pid)
        stream.close()

    def _read_stdio(self, call: Any) -> None:
        """Surface go-plugin's GRPCStdio stream; a plugin without it is fine."""
        pending = {grpc_stdio_pb2.StdioData.STDOUT: b"", grpc_stdio_pb2.StdioData.STDERR: b""}
        try:
            for chunk in call:
                if chunk.channel not in pending:
                    continue
                *lines, pending[chunk.channel] = (pending[chunk.channel] + chunk.data).split(
                    b"\n")
                name = "stdout" if chunk.channel == grpc_stdio_pb2.StdioData.STDOUT else "stderr"
                for line in lines:
                    self.host._surface(name, line, self.pid)
        except grpc.RpcError:  # UNIMPLEMENTED (go-plugin before 1.1.0), or the child is gone
            pass

    def _wait(self) -> None:
        self.proc.wait()
        self.exited.set()
        self.host._events.put(("exited", self))

    # -- connection --------------------------------------------------------------------

    def connect(self, network: str, address: str, deadline: float) -> None:
        """Connect, check health, describe; raise _StartError on any failure."""
        if network == "unix":
            self.socket_path = address
        target = f"unix:{address}" if network == "unix" else address
        self.channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        try:
            answer = self.health.Check(
                health_pb2.HealthCheckRequest(service=wire.HEALTH_SERVICE),
                timeout=_remaining(deadline), wait_for_ready=True)
        except grpc.RpcError as exc:
            raise _StartError(f"health check of {address} failed: {_rpc_text(exc)}") from None
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            raise _StartError(f"health check: the plugin service is {status}, not SERVING")
        stub = loglayer_plugin_pb2_grpc.LogLayerPluginStub(self.channel)
        try:
            described = stub.Describe(pb.DescribeRequest(), timeout=_remaining(deadline),
                                      wait_for_ready=True)
        except grpc.RpcError as exc:
            raise _StartError(f"Describe failed: {_rpc_text(exc)}") from None
        unknown = [name for name in described.hooks if name not in HOOK_NAMES]
        if unknown:
            raise _StartError(f"Describe named unknown hooks {unknown}; "
                              f"known hooks are {list(HOOK_NAMES)}")
        self.hooks = tuple(name for name in HOOK_NAMES if name in described.hooks)
        self.remote_id = described.id
        self.batch = described.batch
        self.methods = {hook: getattr(stub, method) for hook, method in _METHODS.items()}
        if described.batch and described.batch_stream:
            self.batch_stream = _BatchStream(
                loglayer_plugin_pb2_grpc.LogLayerBatchStreamStub(self.channel).DispatchBatches,
                stub.DispatchBatch, self.pid)
            self.methods["dispatch_batch"] = self.batch_stream
        self.stdio_call = grpc_stdio_pb2_grpc.GRPCStdioStub(self.channel).StreamStdio(
            empty_pb2.Empty())
        reader = threading.Thread(target=self._read_stdio, args=(self.stdio_call,),
                                  name=f"loglayer-grpc-stdio-{self.pid}", daemon=True)
        reader.start()
        self.threads.append(reader)

    def healthy(self, timeout: float) -> bool:
        if self.health is None:  # not connected: nothing to answer
            return False
        try:
            answer = self.health.Check(health_pb2.HealthCheckRequest(service=wire.HEALTH_SERVICE),
                                       timeout=timeout)
        except grpc.RpcError:
            return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING

    def stop(self, grace: float) -> None:
        """Ask for a clean shutdown, wait up to ``grace`` seconds in all, then kill; reap."""
        deadline = time.monotonic() + grace
        if self.batch_stream is not None:  # an open stream would hold the plugin's exit up
            self.batch_stream.close()
        if self.channel is not None and not self.exited.is_set():
            with contextlib.suppress(grpc.RpcError):  # it is killed below if it did not stop
                grpc_controller_pb2_grpc.GRPCControllerStub(self.channel).Shutdown(
                    grpc_controller_pb2.Empty(), timeout=grace)
            self.exited.wait(_remaining(deadline))
        self.kill()
        self.exited.wait()
        self.release()

    def kill(self) -> None:
        if not self.exited.is_set():
            with contextlib.suppress(OSError):  # it exited meanwhile
                self.proc.kill()

    def release(self) -> None:
        """Close the connection and let the output readers finish (the process is gone)."""
        if self.stdio_call is not None:
            self.stdio_call.cancel()
        if self.batch_stream is not None:
            self.batch_stream.close()
        if self.channel is not None:
            self.channel.close()
        current = threading.current_thread()
        for thread in self.threads:
            if thread is not current:
                thread.join(1.0)
        if self.exited.is_set() and self.socket_path is not None:
            _remove_socket(self.socket_path)

    def exit_text(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"


class _StreamError(grpc.RpcError):
    """A failed exchange on a batch stream, with the ``code()`` and ``details()`` of a
    failed unary call, so that ``GrpcPlugin._call`` reports both alike."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class _BatchStream:
    """``DispatchBatch`` over one ``DispatchBatches`` stream, called like the unary
    method (``batches(request, timeout=...)`` returns the ``BatchResult`` or raises
    ``grpc.RpcError``).

    The stream is opened on first use and kept open: in Python a message on an open stream
    costs about half the round trip of a new call. One batch is in flight at a time; a
    caller that finds the stream busy makes a unary call instead, so batches from several
    threads still run side by side, as unary calls do. A missed deadline or a broken
    stream closes the stream and the next batch opens a new one, so a late answer is
    never taken for the next batch's.
    """

    def __init__(self, open_stream: Callable[[Iterator[pb.Batch]], Any],
                 unary: Callable[..., pb.BatchResult], pid: int) -> None:
        self._open_stream = open_stream
        self._unary = unary
        self._pid = pid
        self._lock = threading.Lock()  # held while a batch is in flight on the stream
        self._closed = False
        # The open stream: its call, the requests it sends, the answers (or the error that
        # ended it) its reader thread received. All None while no stream is open.
        self._call: Any = None
        self._requests: queue.SimpleQueue | None = None
        self._answers: queue.SimpleQueue | None = None
        self._reader: threading.Thread | None = None

    def __call__(self, request: pb.Batch, timeout: float) -> pb.BatchResult:
        if not self._lock.acquire(blocking=False):
            return self._unary(request, timeout=timeout)
        try:
            if self._closed:  # the process is stopping or gone: no new stream to it
                return self._unary(request, timeout=timeout)
            if self._call is None:
                try:
                    self._open()
                except RuntimeError:
                    # No new thread (a stream needs gRPC's and our reader): from 3.12 that
                    # is so at interpreter exit, where a queue drains its last entries.
                    # A unary call needs neither.
                    return self._unary(request, timeout=timeout)
            requests, answers = self._requests, self._answers
            assert requests is not None and answers is not None  # opened with the call
            requests.put(request)
            try:
                answer = answers.get(timeout=timeout)
            except queue.Empty:
                self._shut()
                raise _StreamError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                   "Deadline Exceeded") from None
            if isinstance(answer, grpc.RpcError):  # the stream ended
                self._shut()
                raise answer
            if answer.error:
                raise _StreamError(grpc.StatusCode.UNKNOWN, answer.error)
            return answer
        finally:
            self._lock.release()

    def close(self) -> None:
        """End the stream for good (the process is stopping or gone): a batch in flight
        fails at once, later ones go to the unary method. Idempotent."""
        self._closed = True
        call = self._call
        if call is not None:
            call.cancel()  # ends a batch in flight now, rather than at its deadline
        with self._lock:  # no batch is opening a stream while it is shut
            reader = self._reader
            self._shut()
        if reader is not None:
            reader.join(1.0)

    def _open(self) -> None:
        requests: queue.SimpleQueue = queue.SimpleQueue()
        answers: queue.SimpleQueue = queue.SimpleQueue()
        call = self._open_stream(iter(requests.get, None))
        reader = threading.Thread(target=_read_answers, args=(call, answers),
                                  name=f"loglayer-grpc-batches-{self._pid}", daemon=True)
        try:
            reader.start()
        except BaseException:
            call.cancel()
            requests.put(None)  # ends gRPC's thread that reads the requests
            raise
        self._call, self._requests, self._answers, self._reader = call, requests, answers, reader

    def _shut(self) -> None:
        """Cancel the open stream, if any, and forget it; its reader thread then ends."""
        call, requests = self._call, self._requests
        self._call = self._requests = self._answers = self._reader = None
        if call is not None:
            call.cancel()
            assert requests is not None  # opened with the call
            requests.put(None)  # ends the request iterator, and gRPC's thread that reads it


def _read_answers(call: Any, answers: queue.SimpleQueue) -> None:
    """A batch stream's reader thread: every answer, then the error that ended the stream."""
    try:
        for answer in call:
            answers.put(answer)
    except grpc.RpcError as exc:
        answers.put(exc)
    else:
        answers.put(_StreamError(grpc.StatusCode.UNAVAILABLE,
                                 "the plugin ended the batch stream"))


def _apply_batch(entries: list, answer: Any, transports: int) -> tuple[list, list]:
    """A DispatchBatch answer applied to its entries: ``(outcomes, failures)``, where
    failures are the per-entry hook failures to report, as ``(index of the entry,
    failure)``; RemoteCallError when the answer does not have the documented shape."""
    if not isinstance(answer, list) or len(answer) != len(entries):
        raise RemoteCallError("bad-response", f"expected {len(entries)} outcomes, got "
                              f"{len(answer) if isinstance(answer, list) else answer!r}")
    passed = (True,) * transports
    outcomes: list[BatchOutcome] = []
    append = outcomes.append
    new = tuple.__new__  # BatchOutcome(...) without the Python-level __new__
    failures: list = []
    try:
        for index, (entry, change) in enumerate(zip(entries, answer, strict=True)):
            if change is None:
                append(new(BatchOutcome, (entry.level, entry.messages, entry.data, passed)))
                continue
            data, messages = change.get("data"), change.get("messages")
            level, send = change.get("level"), change.get("send")
            if data:
                data = {**entry.data, **data}
            elif data is None or data == {}:
                data = entry.data
            else:
                raise TypeError(f"data is {type(data).__name__}")
            if messages is None:
                messages = entry.messages
            elif type(messages) is not list:
                raise TypeError(f"messages is {type(messages).__name__}")
            if send is None:
                send = passed
            elif len(send) != transports:
                raise ValueError(f"{len(send)} gate decisions for {transports} transports")
            else:
                send = tuple(map(bool, send))
            append(new(BatchOutcome, (
                (wire.LEVELS.get(level) or LogLevel.parse(level)) if level else entry.level,
                messages, data, send)))
            if "failures" in change:
                failures.extend((index, dict(failure)) for failure in change["failures"])
    except (AttributeError, TypeError, ValueError) as exc:
        raise RemoteCallError("bad-response", f"malformed batch outcome: {exc}") from None
    return outcomes, failures


def _accepted(hook: str, answer: Any) -> Any:
    """A data, message or level hook's decoded ``answer`` when the logger will take it;
    otherwise RemoteCallError (for fail_closed: the logger's fallback for an answer it
    rejects is to send the entry as it is, which is a failure of the hook)."""
    if answer is None:
        return None
    if hook == "on_before_data_out":
        accepted = type(answer) is dict
    elif hook == "on_before_message_out":
        accepted = type(answer) is list
    else:
        accepted = answer in wire.LEVELS
    if not accepted:
        raise RemoteCallError("bad-response", f"{hook} answered {answer!r:.100}, which the "
                              "logger would reject")
    return answer


def _command(cmd: Any) -> list[str]:
    """``cmd`` as the list of str that ``subprocess`` runs: one path, or a non-empty
    sequence of str (or ``os.PathLike``) arguments."""
    if isinstance(cmd, (str, os.PathLike)):
        cmd = [cmd]
    elif isinstance(cmd, (bytes, bytearray)) or not isinstance(cmd, Iterable):
        raise TypeError(f"cmd must be a path or a sequence of str, got {type_name(cmd)}")
    parts = [check_type(f"cmd[{index}]", os.fspath(part) if isinstance(part, os.PathLike)
                        else part, str, "a str or os.PathLike")
             for index, part in enumerate(cmd)]
    if not parts:
        raise ValueError(f"cmd must be a non-empty sequence of str, got {cmd!r}")
    return parts


def _close_at_exit(plugin: GrpcPlugin, deadline: float) -> None:
    """Stop the plugin's process at interpreter exit. ``close()`` waits up to the
    plugin's own ``shutdown_timeout`` for a clean exit, whatever is left of ``deadline``."""
    plugin.close()


def _remove_socket(path: str) -> None:
    """Remove a dead child's Unix socket (a killed plugin cannot), and its private
    directory when it is one of ``serve``'s and now empty. Only a socket file of ours
    is removed, whatever path the child printed."""
    try:
        info = os.lstat(path)
        if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid():
            os.unlink(path)
            directory = os.path.dirname(path)
            if os.path.basename(directory).startswith(wire.SOCKET_DIR_PREFIX):
                os.rmdir(directory)
    except OSError:
        pass


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _rpc_text(exc: grpc.RpcError) -> str:
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else None
    name = code.name if code is not None else "ERROR"
    return f"{name}: {details}" if details else name


def _parse_handshake(raw: bytes) -> tuple[str, str]:
    """``(network, address)`` from go-plugin's handshake line, or _StartError."""
    line = raw.decode("utf-8", "replace").strip()
    parts = line.split("|")
    if len(parts) < 4:
        raise _StartError(f"unrecognized handshake line {line[:200]!r}; expected "
                          "CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|grpc|")
    core, app, network, address = parts[:4]
    if core != str(wire.CORE_PROTOCOL_VERSION):
        raise _StartError(f"the plugin speaks go-plugin core protocol {core!r}; "
                          f"this host speaks {wire.CORE_PROTOCOL_VERSION}")
    if app != str(wire.APP_PROTOCOL_VERSION):
        raise _StartError(f"the plugin speaks loglayer plugin protocol {app!r}; "
                          f"this host speaks {wire.APP_PROTOCOL_VERSION}")
    if network not in ("unix", "tcp") or not address:
        raise _StartError(f"unsupported plugin address {network!r} {address!r} in "
                          f"handshake line {line[:200]!r}")
    protocol = parts[4] if len(parts) > 4 and parts[4] else "netrpc"
    if protocol != "grpc":
        raise _StartError(f"the plugin speaks {protocol!r}; only 'grpc' is supported")
    if len(parts) > 5 and len(parts[5]) > 50:  # shorter: not a certificate (as go-plugin)
        raise _StartError("the plugin offers a TLS certificate (AutoMTLS), which this host "
                          "does not support")
    return network, address


class GrpcPlugin:
    """A plugin that runs in a child process, reached over gRPC. See the module docstring.

    ``cmd`` is the program and its arguments (a sequence, or one path), run without a
    shell. The constructor starts the child and completes the handshake, the health check
    and ``Describe`` within ``start_timeout`` seconds, or raises ``PluginError``. The
    plugin then exposes exactly the hooks the child described, so a logger pre-indexes
    them as for any plugin.

    ``id`` overrides the ID the child describes. ``timeout`` is each call's deadline in
    seconds. ``restart`` is ``"always"`` or ``"never"``; at most ``max_restarts`` restarts
    happen per ``restart_window`` seconds before the plugin is disabled. ``env``, when
    given, is the child's whole environment (the host adds the magic cookie and
    go-plugin's variables). ``on_error`` receives each ``PluginError`` (without it, one
    line goes to stderr). ``output`` is where the child's stderr and stdout lines go, as
    log entries sent to these transports only (a transport or a sequence; by default the
    console): never through plugins, so they cannot recurse. go-plugin's hclog JSON lines
    keep their level, message and key/value pairs. ``shutdown_timeout`` is how long
    ``close()`` waits for a clean exit before it kills the child.

    ``batch=True`` adds a ``dispatch_batch(entries, transport_ids=())`` method (see
    ``_dispatch_batch``), which runs the plugin's dispatch hooks over many entries in one
    call, for a caller that batches entries, such as a ``QueueTransport`` worker. It
    requires a child that implements ``DispatchBatch``; without ``batch=True`` the
    attribute does not exist, so a caller can test for it with ``getattr``. When the child
    also serves ``LogLayerBatchStream`` (as :func:`~loglayer.isolation.serve` does), the
    batches go over one long-lived stream, where each costs about half a call.

    ``fail_closed=True`` refuses, instead of sending with the fallbacks applied, every entry
    the plugin could not process (see the module docstring): for a plugin whose job is to
    keep something out of the logs, such as redaction. The plugin then has a
    ``should_send`` gate even when the child describes none.

    Read-only state: ``hooks`` (the described hook names), ``pid`` (None while the child
    is down), ``restarts`` (restart attempts so far) and ``disabled``.
    """

    def __init__(self, cmd: str | os.PathLike | Sequence[str | os.PathLike], *,
                 id: str | None = None, timeout: float = 0.1, start_timeout: float = 10.0,
                 restart: str = "always", max_restarts: int = 5,
                 restart_window: float = 60.0, env: Mapping[str, str] | None = None,
                 batch: bool = False, on_error: Any = None, output: Any = None,
                 shutdown_timeout: float = 2.0, fail_closed: bool = False) -> None:
        self._cmd = _command(cmd)
        self._timeout = check_number("timeout", timeout, above=0)
        self._start_timeout = check_number("start_timeout", start_timeout, above=0)
        self._restart_window = check_number("restart_window", restart_window, above=0)
        self._shutdown_timeout = check_number("shutdown_timeout", shutdown_timeout, above=0)
        self._restart = check_choice("restart", restart, ("always", "never"))
        self._max_restarts = check_int("max_restarts", max_restarts, minimum=0)
        check_type("id", id, (str, type(None)), "a str or None")
        check_callable("on_error", on_error, allow_none=True)
        check_bool("batch", batch)
        self._fail_closed = check_bool("fail_closed", fail_closed)
        self._env = None if env is None else check_mapping("env", env)
        self._batch = batch
        self._fixed_id = id
        self.id = id or os.path.basename(self._cmd[0])
        if on_error is not None:
            self.on_error = on_error
        self._output = LogLayer() if output is None else LogLayer(transports=output)

        self._events: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        # Per thread: ``params``, the entry whose hook missed its deadline; with
        # fail_closed also ``failed`` (id -> (params, cause): the entries a hook failed on
        # since the last gate call, which set ``gating``) and ``refused`` (the entry the
        # gate last refused and reported). See _ask and _gate.
        self._missed = threading.local()
        self._child: _Child | None = None  # the current process, even while it is down
        self._conn: _Child | None = None  # the process calls go to; None while down
        self._starting: _Child | None = None
        self._disabled = False
        self._restart_times: collections.deque = collections.deque()
        self.restarts = 0
        self.hooks: tuple = ()

        started: queue.Queue = queue.Queue(1)
        self._supervisor = threading.Thread(target=self._supervise, args=(started,),
                                            name=f"loglayer-grpc-{self.id}", daemon=True)
        self._supervisor.start()
        result = started.get()
        if isinstance(result, Exception):
            self._supervisor.join()
            expected = isinstance(result, _StartError)
            error = PluginError(self.id, "start", f"plugin {self.id!r} ({' '.join(self._cmd)}) "
                                f"did not start: {result if expected else describe(result)}")
            raise error from (None if expected else result)
        self.hooks = result.hooks
        if self._fixed_id is None and result.remote_id:
            self.id = result.remote_id
        if batch and not result.batch:
            self.close()
            raise PluginError(self.id, "start",
                              f"plugin {self.id!r} does not implement DispatchBatch; "
                              "use batch=False")
        for name in self.hooks:  # only the described hooks exist, as instance attributes
            setattr(self, name, getattr(self, "_" + name))
        if fail_closed:  # the gate is where an entry the plugin could not process stops
            self.should_send = self._should_send
        if batch:
            self.dispatch_batch = self._dispatch_batch
        # A plugin process still running when the interpreter exits is stopped then.
        _lifecycle.track(self, at_exit=_close_at_exit)

    # -- public state ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The current child's process ID; None while it is down, disabled or closed."""
        conn = self._conn
        return None if conn is None else conn.pid

    @property
    def disabled(self) -> bool:
        """True once the plugin gave up (or was closed): its hooks are no-ops."""
        return self._disabled

    def __repr__(self) -> str:
        state = "disabled" if self._disabled else f"pid={self.pid}"
        return f"<GrpcPlugin id={self.id!r} {state} hooks={list(self.hooks)}>"

    def __enter__(self) -> GrpcPlugin:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child: ``Shutdown``, wait up to ``shutdown_timeout``, then kill.

        Idempotent. Afterwards the plugin is a no-op, like a disabled one."""
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
            self._disabled = True
            self._conn = None
            starting = self._starting
        if starting is not None:  # a start in progress: end it now
            starting.kill()
        self._events.put(("close", None))
        if self._supervisor is not threading.current_thread():
            self._supervisor.join()
        _lifecycle.untrack(self)

    # -- the hooks (bound as instance attributes when the child describes them) --------

    def _on_fields_called(self, fields: Any) -> Any:
        if self._disabled and not self._fail_closed:
            return fields
        # With fail_closed a disabled or closed plugin raises here, as a restarting one
        # does, so the logger drops the with_fields call (fields nothing checked) and
        # reports that: no entry is refused for it, so nothing else would report it.
        return self._decode(self._call("on_fields_called", pb.Value(json=wire.dumps(fields))))

    def _on_metadata_called(self, metadata: Any) -> Any:
        if self._disabled:
            # fail_closed: None drops the metadata; the entry's gate refuses the entry and
            # reports that, so dropping it here adds no second report per entry
            return None if self._fail_closed else metadata
        return self._decode(
            self._call("on_metadata_called", pb.Value(json=wire.dumps(metadata))))

    def _on_before_data_out(self, params: Any) -> Any:
        return self._ask("on_before_data_out", params)

    def _on_before_message_out(self, params: Any) -> Any:
        return self._ask("on_before_message_out", params)

    def _transform_log_level(self, params: Any) -> int | None:
        return self._ask("transform_log_level", params)

    def _should_send(self, params: Any) -> bool:
        if self._fail_closed:
            return self._gate(params)
        if self._disabled:
            return True
        return self._call("should_send", wire.encode_params(params), params).send

    def _ask(self, hook: str, params: Any) -> Any:
        """A data, message or level hook's answer for the entry in ``params`` (None: no
        change, as when the plugin is disabled); RemoteCallError when the call fails.

        With fail_closed, a failure also marks the entry for the gate, which refuses it;
        an answer the logger would reject counts as a failure (its fallback would send
        the entry as it is); and the later hooks of a marked entry are skipped."""
        if self._disabled:
            return None
        if not self._fail_closed:
            return self._answer(hook, params)
        # The marks of a round of hooks are dropped when the next round begins: a logger
        # asks an entry's gates right after its hooks, a queue after its batch's hooks.
        state = self._missed
        failed = getattr(state, "failed", None)
        if failed is None or state.gating:
            failed = state.failed = {}
            state.gating = False
        elif id(params) in failed:  # the dict holds params: its id is not reused meanwhile
            return None
        try:
            return _accepted(hook, self._answer(hook, params))
        except Exception as exc:
            failed[id(params)] = (params, exc)
            raise

    def _answer(self, hook: str, params: Any) -> Any:
        """The child's answer to a data, message or level hook, decoded."""
        answer = self._call(hook, wire.encode_params(params), params)
        if hook == "transform_log_level":
            return answer.level or None
        return self._decode(answer)

    def _gate(self, params: Any) -> bool:
        """``should_send`` with fail_closed: False when the plugin is down, disabled or
        closed, when one of its hooks failed on this entry, or when the child's own gate
        fails (each refused entry reported once, for its first transport); otherwise
        the child's gate's answer, or True when it has none."""
        state = self._missed
        state.gating = True
        if getattr(state, "refused", None) is params:
            return False  # refused, and reported, for an earlier transport
        failed = getattr(state, "failed", None)
        mark = failed.get(id(params)) if failed else None
        cause: BaseException
        if mark is not None:
            cause = mark[1]
        elif self._conn is None:
            cause = self._unavailable()
        elif "should_send" not in self.hooks:
            return True
        else:
            try:
                return self._call("should_send", wire.encode_params(params), params).send
            except Exception as exc:
                cause = exc
        state.refused = params
        self._report("should_send", RemoteCallError(
            "refused", f"fail_closed: the entry was not sent ({describe(cause)})"))
        return False

    def _dispatch_batch(self, entries: Iterable[Any],
                        transport_ids: Sequence[str] = ()) -> list[BatchOutcome]:
        """Run the plugin's dispatch hooks over ``entries`` in one call.

        ``entries`` are entry-like objects (``level``, ``messages``, ``data``,
        ``metadata``, ``error``, ``fields``, ``prefix``, and ``groups`` when they have
        any), such as the ``LogEntry`` a transport receives. For each entry the plugin
        runs its data, message and level hooks as a logger would, then its send gate
        once per ID in ``transport_ids``.
        Returns one :class:`BatchOutcome` per entry, in order. Never raises: when the
        call fails (deadline, crash...) every entry keeps its values and passes every
        gate, and one ``PluginError`` (hook ``"dispatch_batch"``) is reported; a hook that
        failed on one entry is reported under its own name. The deadline is ``timeout``
        plus 1 ms per entry.

        With fail_closed, an entry that a hook failed on, and every entry when the call
        fails or the plugin is disabled or closed, gets a refusal for every transport
        (its ``send`` is all False; its other values are left as they were), and the
        refusals are reported in one ``PluginError`` per batch. The refusal is in
        ``send`` only: a caller must pass the transport IDs and honour the decisions.

        The plugin's data, message and level hooks run as one step per entry, so another
        plugin's hook sees all of this plugin's changes or none of them, where a logger
        interleaves them (every data hook, then every message hook...): that differs
        only for plugins that read each other's changes. The gate is asked for every
        transport listed, whatever the transport's level.
        """
        entries = list(entries)
        transport_ids = list(transport_ids)
        if not entries:
            return []
        cause: BaseException
        if self._disabled:
            cause = self._unavailable()
        else:
            try:
                request = wire.encode_batch(entries, transport_ids)
                answer = self._decode(self._call(
                    "dispatch_batch", request,
                    timeout=self._timeout + _BATCH_ENTRY_BUDGET * len(entries)).outcomes)
                outcomes, failures = _apply_batch(entries, answer, len(transport_ids))
            except Exception as exc:  # RemoteCallError, or a bug: never into the caller
                cause = exc
            else:
                failed = set()
                for index, failure in failures:
                    failed.add(index)
                    self._report(str(failure.get("hook")),
                                 RemoteCallError("raised", str(failure.get("message"))))
                if self._fail_closed and failed:
                    refused = (False,) * len(transport_ids)
                    for index in failed:
                        outcomes[index] = outcomes[index]._replace(send=refused)
                    self._report("dispatch_batch", RemoteCallError(
                        "refused", f"fail_closed: {len(failed)} of {len(entries)} entries "
                        "were not sent (a hook failed on them)"))
                return outcomes
        if self._fail_closed:
            self._report("dispatch_batch", RemoteCallError(
                "refused", f"fail_closed: {len(entries)} entries were not sent "
                f"({describe(cause)})"))
            send = (False,) * len(transport_ids)
        else:
            if not self._disabled:
                self._report("dispatch_batch", cause)
            send = (True,) * len(transport_ids)
        return [BatchOutcome(e.level, e.messages, e.data, send) for e in entries]

    # -- calls -------------------------------------------------------------------------

    def _call(self, hook: str, request: Any, params: Any = None,
              timeout: float | None = None) -> Any:
        """One RPC with a deadline; the answer, or RemoteCallError."""
        conn = self._conn
        if conn is None:
            raise self._unavailable()
        if params is not None:
            missed = getattr(self._missed, "params", None)
            if missed is params:
                raise RemoteCallError("deadline", "skipped: an earlier hook of this entry "
                                      "missed its deadline")
            if missed is not None:
                self._missed.params = None
        try:
            return conn.methods[hook](request, timeout=timeout or self._timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                if params is not None:
                    self._missed.params = params
                if not conn.suspect:  # let the supervisor check that the child still answers
                    conn.suspect = True
                    self._events.put(("suspect", conn))
                raise RemoteCallError("deadline", f"no answer within the "
                                      f"{timeout or self._timeout:g} s deadline") from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise RemoteCallError("unavailable", "lost the connection to the plugin "
                                      f"process ({_rpc_text(exc)})") from None
            raise RemoteCallError("raised", exc.details() or code.name) from None

    def _unavailable(self) -> RemoteCallError:
        """Why no call can go to the child now (``_conn`` is None)."""
        if self._closing.is_set():
            return RemoteCallError("down", "the plugin is closed")
        if self._disabled:
            return RemoteCallError("down", "the plugin is disabled (the reason was reported "
                                   "then)")
        return RemoteCallError("down", "the plugin process is not running (it is being "
                               "restarted)")

    @staticmethod
    def _decode(answer: Any) -> Any:
        raw = answer if isinstance(answer, bytes) else answer.json
        try:
            return wire.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RemoteCallError("bad-response", f"the plugin answered invalid JSON: {exc}") \
                from None

    def _report(self, hook: str, exc: BaseException) -> None:
        plugin_failed(hook, self.id, getattr(self, "on_error", None), exc)

    # -- supervision (the supervisor thread) ---------------------------------------------

    def _supervise(self, started: queue.Queue) -> None:
        """The supervisor thread: start the child, then restart it until closed.

        It also starts every later child, and stops the last one: a child is tied to the
        thread that started it (it is killed when that thread ends)."""
        try:
            child = self._start()
        except Exception as exc:  # _StartError, or a bug: the constructor reports it
            started.put(exc)
            return
        self._conn = child
        started.put(child)
        try:
            self._watch()
        except Exception as exc:  # a bug here must not leave a half-supervised child
            self._disable(f"the supervisor failed: {describe(exc)}")
        if self._child is not None:
            self._child.stop(self._shutdown_timeout)
        self._conn = None

    def _watch(self) -> None:
        """Handle the children's events until the plugin closes or is disabled."""
        while True:
            kind, subject = self._events.get()
            if kind == "close":
                return
            child = self._child
            if child is None or subject is not child:
                continue  # about a child already replaced
            if kind == "suspect":
                if not child.exited.is_set() and not child.healthy(
                        max(2 * self._timeout, 1.0)):
                    self._report("process", RemoteCallError(
                        "deadline", f"pid {child.pid} missed a deadline and does not answer "
                        "health checks; killing it"))
                    child.kill()
                child.suspect = False
            elif kind == "exited" and not self._closing.is_set():
                self._conn = None
                self._child = None
                child.release()
                if not self._replace(child):
                    return

    def _replace(self, dead: _Child) -> bool:
        """Restart after ``dead`` exited; False when the plugin is disabled or closing."""
        if self._restart == "never":
            self._disable(f"pid {dead.pid} {dead.exit_text()}; restart='never'")
            return False
        self._report("process", RemoteCallError(
            "unavailable", f"pid {dead.pid} {dead.exit_text()}; restarting it"))
        failures = 0
        while True:
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > self._restart_window:
                self._restart_times.popleft()
            if len(self._restart_times) >= self._max_restarts:
                self._disable(f"restarted {len(self._restart_times)} times within "
                              f"{self._restart_window:g} s (max_restarts={self._max_restarts})")
                return False
            delay = 0.0 if failures == 0 else min(_BACKOFF_FIRST * 2 ** (failures - 1),
                                                  _BACKOFF_MAX)
            if self._closing.wait(delay):
                return False
            self._restart_times.append(time.monotonic())
            self.restarts += 1
            try:
                child = self._start()
            except _StartError as exc:
                if self._closing.is_set():
                    return False
                failures += 1
                self._report("process", RemoteCallError("down", f"restart failed: {exc}"))
                continue
            if child.hooks != self.hooks or (self._batch and not child.batch):
                self._child = None
                child.stop(self._shutdown_timeout)
                self._disable(f"the restarted plugin describes hooks {list(child.hooks)}"
                              f"{'' if child.batch or not self._batch else ' without batch'}"
                              f", not {list(self.hooks)}")
                return False
            with self._lock:
                if self._closing.is_set():
                    return False
                self._conn = child
            return True

    def _disable(self, why: str) -> None:
        """Give up on the child for good, with one error (reported before ``disabled``
        turns true, so whoever sees the flag finds the error already reported)."""
        self._conn = None
        self._report("process", RemoteCallError("down", f"disabled: {why}"))
        self._disabled = True

    def _start(self) -> _Child:
        """Start a child and bring it up to the point where calls can go to it.

        On success it becomes ``self._child`` (the caller routes calls to it); on
        failure it is stopped and reaped, and _StartError says why, quoting the end of
        its stderr."""
        deadline = time.monotonic() + self._start_timeout
        child = self._spawn()
        with self._lock:
            if self._closing.is_set():
                child.kill()
            self._starting = child
        try:
            try:
                line = child.handshake.get(timeout=_remaining(deadline))
            except queue.Empty:
                raise _StartError(f"no handshake line on stdout within "
                                  f"{self._start_timeout:g} s") from None
            if line is None:
                child.exited.wait(_remaining(deadline))
                raise _StartError(f"the process {child.exit_text()} before the handshake"
                                  if child.exited.is_set() else
                                  "the process closed stdout before the handshake")
            network, address = _parse_handshake(line)
            child.connect(network, address, deadline)
        except _StartError as exc:
            child.kill()
            child.exited.wait()
            child.release()
            if child.stderr_tail:
                raise _StartError(f"{exc}; its stderr ended with: "
                                  + " | ".join(child.stderr_tail)) from None
            raise
        finally:
            self._starting = None
        self._child = child
        return child

    def _spawn(self) -> _Child:
        env = dict(os.environ if self._env is None else self._env)
        env[wire.MAGIC_COOKIE_KEY] = wire.MAGIC_COOKIE_VALUE
        env[wire.ENV_PROTOCOL_VERSIONS] = str(wire.APP_PROTOCOL_VERSION)
        env.setdefault(wire.ENV_MIN_PORT, "10000")
        env.setdefault(wire.ENV_MAX_PORT, "25000")
        program = self._cmd[0]
        if os.sep in program:
            found = program if os.access(program, os.X_OK) else None
        else:
            found = shutil.which(program, path=env.get("PATH", os.defpath))
        if not found:
            raise _StartError(f"cannot run {program!r}: not found or not executable")
        argv = self._cmd
        if sys.platform.startswith("linux") and sys.executable:
            argv = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), found,
                    *self._cmd]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            raise _StartError(f"cannot run {program!r}: {exc}") from None
        return _Child(self, proc)

    # -- the child's output --------------------------------------------------------------

    def _surface(self, stream: str, raw: bytes, pid: int) -> None:
        """Log one line of the child's output to ``output``'s transports (never plugins).

        An hclog JSON line keeps its level, message and pairs; another stderr line is a
        WARN, a stdout line an INFO."""
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return
        level = LogLevel.WARN if stream == "stderr" else LogLevel.INFO
        metadata = None
        if text.startswith("{"):
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict) and "@message" in record:
                level = _HCLOG_LEVELS.get(str(record.pop("@level", "")).lower(), level)
                text = str(record.pop("@message"))
                metadata = {key.lstrip("@"): value for key, value in record.items()} or None
        with contextlib.suppress(Exception):  # output must never break the supervision
            self._output.raw(level, [text], metadata=metadata,
                             fields={"plugin": self.id, "pid": pid, "stream": stream})
