"""``log.writer(level)``: a text file whose lines become entries (issue #15).

Loggers come from the ``core`` fixture, so every test runs on both cores.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading

import pytest

from loglayer import LogLevel
from loglayer._writer import MAX_PENDING, LogWriter
from loglayer.testing import TestTransport


def messages(tt: TestTransport) -> list[list[object]]:
    return [entry.messages for entry in tt.lines]


def test_each_line_is_one_entry_at_the_level(core, tt):
    w = core.LogLayer(transports=tt).writer(LogLevel.WARN)
    assert w.write("first\nsecond\n") == len("first\nsecond\n")
    assert messages(tt) == [["first"], ["second"]]
    assert [entry.level for entry in tt.lines] == [LogLevel.WARN, LogLevel.WARN]


def test_the_default_level_is_info_and_names_are_accepted(core, tt):
    log = core.LogLayer(transports=tt)
    log.writer().write("a\n")
    log.writer("debug").write("b\n")
    assert [(e.level, e.messages) for e in tt.lines] == [(LogLevel.INFO, ["a"]),
                                                          (LogLevel.DEBUG, ["b"])]


def test_a_bad_level_is_refused_when_the_writer_is_made(core, tt):
    with pytest.raises(ValueError, match="loud"):
        core.LogLayer(transports=tt).writer("loud")


def test_a_refused_writer_closes_quietly(core, tt):
    """IOBase's finalizer closes the half-made writer; 3.13 reports what close() raises
    (earlier versions hide it), so close it here, on every version."""
    w = LogWriter.__new__(LogWriter)
    with pytest.raises(ValueError, match="loud"):
        w.__init__(core.LogLayer(transports=tt), "loud")
    w.close()
    assert w.closed
    assert tt.lines == []


def test_a_partial_line_waits_for_its_newline(core, tt):
    w = core.LogLayer(transports=tt).writer()
    w.write("hel")
    w.write("lo")
    assert messages(tt) == []
    w.write(" world\nnext")
    assert messages(tt) == [["hello world"]]
    w.write("\n")
    assert messages(tt) == [["hello world"], ["next"]]


def test_flush_emits_the_partial_line(core, tt):
    w = core.LogLayer(transports=tt).writer()
    w.write("no newline yet")
    w.flush()
    assert messages(tt) == [["no newline yet"]]
    w.flush()  # nothing left: no second entry
    assert len(tt) == 1


def test_blank_lines_are_skipped_and_crlf_is_one_line_end(core, tt):
    w = core.LogLayer(transports=tt).writer()
    w.write("\n\n  \n\t\r\nwindows\r\nunix\n\n")
    assert messages(tt) == [["windows"], ["unix"]]


def test_print_and_writelines(core, tt):
    w = core.LogLayer(transports=tt).writer()
    print("count:", 3, file=w)
    print("one", "two", sep="\n", file=w)
    w.writelines(["x", "y\n", "z\n"])
    assert messages(tt) == [["count: 3"], ["one"], ["two"], ["xy"], ["z"]]


def test_redirect_stdout(core, tt):
    log = core.LogLayer(transports=tt)
    with log.writer() as w, contextlib.redirect_stdout(w):
        print("captured")
        sys.stdout.write("partial")
    assert messages(tt) == [["captured"], ["partial"]]  # the partial line at close


def test_the_entries_go_through_the_loggers_pipeline(core, tt):
    log = core.LogLayer(transports=tt).with_fields(source="stdout").with_prefix("[child]")
    log.set_level(LogLevel.WARN)
    log.writer(LogLevel.INFO).write("filtered out\n")
    log.writer(LogLevel.ERROR).write("kept\n")
    assert [(e.messages, e.data, e.prefix) for e in tt.lines] == [
        (["kept"], {"source": "stdout"}, "[child]")]


def test_file_attributes(core, tt):
    w = core.LogLayer(transports=tt).writer()
    assert isinstance(w, io.TextIOBase)
    assert w.isatty() is False
    assert w.writable() is True
    assert w.readable() is False
    assert w.encoding == "utf-8"
    assert w.closed is False
    with pytest.raises(io.UnsupportedOperation):
        w.fileno()  # so subprocess cannot be handed it as stdout: pump instead
    with pytest.raises(TypeError, match="bytes"):
        w.write(b"bytes\n")
    assert w.write("") == 0
    assert len(tt) == 0


def test_close_flushes_and_leaves_the_logger_open(core):
    class Closing(TestTransport):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    tt = Closing("t")
    log = core.LogLayer(transports=tt)
    w = log.writer()
    w.write("last words")
    w.close()
    w.close()  # idempotent, as for a file
    assert messages(tt) == [["last words"]]
    assert w.closed is True
    assert tt.closed == 0
    for call in (lambda: w.write("x\n"), w.flush, w.isatty, w.writable):
        with pytest.raises(ValueError, match="closed file"):
            call()
    log.info("the logger still logs")
    assert len(tt) == 2


def test_a_line_without_end_is_emitted_in_bounded_pieces(core, tt):
    w = core.LogLayer(transports=tt).writer()
    text = "".join(chr(ord("a") + i % 26) for i in range(MAX_PENDING * 2 + 10))
    for start in range(0, len(text), 1000):
        w.write(text[start:start + 1000])
    assert len(tt) == 2  # two full pieces; the tail waits
    w.flush()
    pieces = [entry.messages[0] for entry in tt.lines]
    assert [len(p) for p in pieces] == [MAX_PENDING, MAX_PENDING, 10]
    assert "".join(pieces) == text


def test_threads_printing_at_once_never_tear_or_lose_a_line(core, tt):
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: interleave writes
    try:
        _print_from_threads(core, tt)
    finally:
        sys.setswitchinterval(previous)


def _print_from_threads(core, tt) -> None:
    w = core.LogLayer(transports=tt).writer()
    threads, lines = 8, 300
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        for i in range(lines):
            # print() makes two write calls (the text, then "\n"): with one buffer for
            # all threads they would interleave and tear lines
            print(f"thread {n} line {i}", file=w)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    got = [entry.messages[0] for entry in tt.lines]
    assert sorted(got) == sorted(f"thread {n} line {i}" for n in range(threads)
                                 for i in range(lines))
    for n in range(threads):  # each thread's lines in the order it wrote them
        mine = [line for line in got if line.startswith(f"thread {n} ")]
        assert mine == [f"thread {n} line {i}" for i in range(lines)]


@pytest.mark.slow  # starts a process
def test_a_thread_pumps_a_subprocess_output_into_it(core, tt):
    program = ("import sys\n"
               "for i in range(500): print('out', i)\n"
               "print()\n"
               "sys.stdout.write('no newline at the end')\n")
    log = core.LogLayer(transports=tt)
    with subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE,
                          text=True) as proc, log.writer() as w:
        assert proc.stdout is not None
        pump = threading.Thread(target=lambda: w.writelines(proc.stdout))
        pump.start()
        pump.join()
    assert proc.returncode == 0
    assert messages(tt) == [[f"out {i}"] for i in range(500)] + [["no newline at the end"]]


def test_a_transport_that_writes_back_into_it_does_not_hang(core, tt, capsys):
    """A transport printing to the stdout that ``redirect_stdout`` points at the writer:
    the inner log call is dropped by the core (SPEC §4 re-entrancy), nothing deadlocks."""

    class Echo(TestTransport):
        def send(self, entry) -> None:
            super().send(entry)
            print("echo:", *entry.messages)

    echo = Echo("echo")
    log = core.LogLayer(transports=echo)
    done = threading.Event()

    def run() -> None:
        with log.writer() as w, contextlib.redirect_stdout(w):
            print("hello")
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    assert done.is_set(), "writing back into the writer deadlocked"
    assert messages(echo) == [["hello"]]
    assert "dropped" in capsys.readouterr().err
