"""loglayer.plugins.sampling: fixed_rate, per_level and burst, through a real LogLayer."""

from __future__ import annotations

import random
import sys
import threading

import pytest

from loglayer import LogLayer, LogLevel, level_hook
from loglayer.plugins import filter, sampling
from loglayer.testing import TestTransport

N = 10_000


def _logger(*plugins, transports=None) -> tuple[LogLayer, TestTransport]:
    tt = TestTransport("tt")
    return LogLayer(transports=transports or tt, plugins=plugins), tt


def _kept(tt: TestTransport) -> list:
    return [line.messages[0] for line in tt.lines]


def _emit(log: LogLayer, count: int, level: str = "info") -> None:
    method = getattr(log, level)
    for i in range(count):
        method(i)


@pytest.fixture
def frequent_switches():
    """Make threads switch often, so entries of different threads interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- fixed_rate -------------------------------------------------------------------------


def test_fixed_rate_keeps_about_the_rate():
    log, tt = _logger(sampling.fixed_rate(0.3))
    _emit(log, N)
    assert 0.25 * N <= len(tt) <= 0.35 * N


def test_fixed_rate_zero_and_one():
    log, tt = _logger(sampling.fixed_rate(0.0))
    _emit(log, 200)
    assert len(tt) == 0
    log, tt = _logger(sampling.fixed_rate(1))
    _emit(log, 200)
    assert _kept(tt) == list(range(200))


def test_a_sampler_that_sends_everything_has_no_gate():
    everything = [sampling.fixed_rate(1.0), sampling.per_level({"debug": 1}),
                  sampling.fixed_rate(0.0, keep_levels=list(LogLevel)),
                  sampling.burst(1, 1, keep_levels=list(LogLevel))]
    for sampler in everything:
        assert not hasattr(sampler, "should_send"), sampler
    for sampler in (sampling.fixed_rate(0.0), sampling.per_level({"debug": 0.5}),
                    sampling.burst(1, 1)):
        assert callable(sampler.should_send), sampler


def test_error_and_fatal_are_kept_by_default():
    log, tt = _logger(sampling.fixed_rate(0.0))
    for method in (log.trace, log.debug, log.info, log.warn, log.error, log.fatal):
        method("x")
    assert [line.level for line in tt.lines] == [LogLevel.ERROR, LogLevel.FATAL]


def test_keep_levels_can_be_configured():
    log, tt = _logger(sampling.fixed_rate(0.0, keep_levels=("warning", LogLevel.TRACE)))
    for method in (log.trace, log.debug, log.info, log.warn, log.error, log.fatal):
        method("x")
    assert [line.level for line in tt.lines] == [LogLevel.TRACE, LogLevel.WARN]
    log, tt = _logger(sampling.fixed_rate(0.0, keep_levels=()))
    log.error("x")
    log.fatal("x")
    assert len(tt) == 0
    log, tt = _logger(sampling.fixed_rate(0.0, keep_levels="info"))
    log.info("x")
    log.error("x")
    assert [line.level for line in tt.lines] == [LogLevel.INFO]


def test_the_final_level_decides():
    promote = level_hook("promote", lambda p: LogLevel.ERROR)
    log, tt = _logger(promote, sampling.fixed_rate(0.0))
    log.debug("promoted")
    assert _kept(tt) == ["promoted"]


def test_a_seed_gives_a_reproducible_sequence():
    runs = []
    for seed in (7, 7, 8):
        log, tt = _logger(sampling.fixed_rate(0.5, seed=seed))
        _emit(log, 300)
        runs.append(_kept(tt))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_unseeded_samplers_draw_independently():
    state = random.getstate()
    try:
        runs = []
        for _ in range(2):
            random.seed(1234)  # the global generator's state must not matter
            log, tt = _logger(sampling.fixed_rate(0.5))
            _emit(log, 300)
            runs.append(_kept(tt))
    finally:
        random.setstate(state)
    assert runs[0] != runs[1]
    assert all(100 <= len(run) <= 200 for run in runs)


def test_each_sampler_gets_its_own_id_so_samplers_compose():
    first, second = sampling.fixed_rate(1.0), sampling.fixed_rate(0.0, keep_levels=())
    assert first.id != second.id
    assert first.id.startswith("sampling.fixed_rate-")
    ids = {first.id, second.id, sampling.per_level({}).id, sampling.burst(1, 1).id}
    assert len(ids) == 4
    log, tt = _logger(first, second)
    assert log.plugin_count() == 2
    assert log.get_plugin(first.id) is first and log.get_plugin(second.id) is second
    _emit(log, 50)
    assert len(tt) == 0  # the second gate was added, not substituted for the first


def test_two_samplers_multiply():
    log, tt = _logger(sampling.fixed_rate(0.5), sampling.fixed_rate(0.5))
    _emit(log, N)
    assert 0.21 * N <= len(tt) <= 0.29 * N


def test_an_explicit_id_replaces():
    log, tt = _logger(sampling.fixed_rate(0.0, id="sampler"))
    log.add_plugin(sampling.fixed_rate(1.0, id="sampler"))
    assert log.plugin_count() == 1
    _emit(log, 10)
    assert len(tt) == 10


# -- one decision per entry ---------------------------------------------------------------


def test_all_transports_get_the_same_entries():
    a, b = TestTransport("a"), TestTransport("b")
    log, _ = _logger(sampling.fixed_rate(0.5, seed=3), transports=[a, b])
    _emit(log, 2_000)
    assert _kept(a) == _kept(b)
    assert 800 <= len(a) <= 1_200


def test_transports_agree_while_many_threads_log(frequent_switches):
    a, b, c = TestTransport("a"), TestTransport("b"), TestTransport("c")
    log, _ = _logger(sampling.fixed_rate(0.5), transports=[a, b, c])
    threads, per_thread = 8, 1_500
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            log.info(t * per_thread + i)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    kept = set(_kept(a))
    assert kept == set(_kept(b)) == set(_kept(c))
    assert len(kept) == len(a)
    assert 0.4 * threads * per_thread <= len(kept) <= 0.6 * threads * per_thread


def test_the_sampler_decides_on_the_first_transport_that_asks():
    a, b = TestTransport("a"), TestTransport("b")
    only_b = filter(predicate=lambda p: p.transport_id == "b", id="only-b")
    log, _ = _logger(only_b, sampling.fixed_rate(0.5, seed=5), transports=[a, b])
    _emit(log, 1_000)
    assert len(a) == 0
    assert 380 <= len(b) <= 620


# -- per_level ----------------------------------------------------------------------------


def test_per_level_rates_by_member_number_or_name():
    sampler = sampling.per_level({LogLevel.DEBUG: 0, 20: 1.0, "warning": 0.0}, default=0)
    log, tt = _logger(sampler)
    for method in (log.trace, log.debug, log.info, log.warn, log.error, log.fatal):
        method("x")
    assert [line.level for line in tt.lines] == [LogLevel.INFO, LogLevel.ERROR, LogLevel.FATAL]


def test_per_level_default_keeps_unlisted_levels():
    log, tt = _logger(sampling.per_level({"debug": 0.0}))
    for method in (log.trace, log.debug, log.info, log.warn):
        method("x")
    assert [line.level for line in tt.lines] == [LogLevel.TRACE, LogLevel.INFO, LogLevel.WARN]


def test_per_level_samples_at_each_rate():
    log, tt = _logger(sampling.per_level({"debug": 0.3, "info": 0.7}))
    _emit(log, N, "debug")
    _emit(log, N, "info")
    debug = sum(1 for line in tt.lines if line.level == LogLevel.DEBUG)
    info = len(tt) - debug
    assert 0.25 * N <= debug <= 0.35 * N
    assert 0.65 * N <= info <= 0.75 * N


def test_per_level_rejects_a_rate_for_a_kept_level():
    with pytest.raises(ValueError, match=r"rates\[error\].*keep_levels"):
        sampling.per_level({"error": 0.5})
    log, tt = _logger(sampling.per_level({"error": 0.0}, keep_levels=["fatal"]))
    log.error("dropped")
    log.fatal("kept")
    assert _kept(tt) == ["kept"]


def test_per_level_seed_is_reproducible():
    runs = []
    for _ in range(2):
        log, tt = _logger(sampling.per_level({"info": 0.4}, seed=b"seed"))
        _emit(log, 300)
        runs.append(_kept(tt))
    assert runs[0] == runs[1]


# -- burst --------------------------------------------------------------------------------


def test_burst_keeps_n_per_window():
    clock = FakeClock()
    log, tt = _logger(sampling.burst(2, 1.0, clock=clock))
    _emit(log, 5)
    assert _kept(tt) == [0, 1]
    clock.now += 0.5
    log.info("still the same window")
    clock.now += 0.5  # the window opened at 100.0 closes at 101.0
    log.info("a")
    log.info("b")
    log.info("c")
    assert _kept(tt) == [0, 1, "a", "b"]


def test_burst_window_opens_with_the_next_entry():
    clock = FakeClock()
    log, tt = _logger(sampling.burst(1, 10, clock=clock))
    log.info("first")
    clock.now += 25  # idle: no window is open now
    log.info("second")
    clock.now += 9  # within the window that opened with "second"
    log.info("dropped")
    clock.now += 1
    log.info("third")
    assert _kept(tt) == ["first", "second", "third"]


def test_burst_keeps_errors_and_does_not_count_them():
    clock = FakeClock()
    log, tt = _logger(sampling.burst(1, 1.0, clock=clock))
    log.error("e1")
    log.fatal("f1")
    log.info("i1")
    log.error("e2")
    log.info("i2")
    assert _kept(tt) == ["e1", "f1", "i1", "e2"]
    log, tt = _logger(sampling.burst(1, 1.0, clock=clock, keep_levels=()))
    log.error("e1")
    log.error("e2")
    assert _kept(tt) == ["e1"]


def test_burst_counts_entries_not_deliveries():
    a, b = TestTransport("a"), TestTransport("b")
    log, _ = _logger(sampling.burst(3, 60, clock=FakeClock()), transports=[a, b])
    _emit(log, 10)
    assert _kept(a) == _kept(b) == [0, 1, 2]


def test_burst_is_exact_under_threads(frequent_switches):
    a, b = TestTransport("a"), TestTransport("b")
    log, _ = _logger(sampling.burst(50, 60, clock=FakeClock()), transports=[a, b])
    threads = 8
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(100):
            log.info(f"{t}-{i}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(a) == len(b) == 50
    assert set(_kept(a)) == set(_kept(b))


def test_a_failing_clock_fails_open_and_releases_the_lock(capsys):
    clock = FakeClock()
    broken = [True]

    def flaky() -> float:
        if broken[0]:
            raise OSError("clock unavailable")
        return clock()

    log, tt = _logger(sampling.burst(1, 1.0, clock=flaky, id="b"))
    log.info("sent anyway")
    assert "'b'" in capsys.readouterr().err
    broken[0] = False
    log.info("counted")
    log.info("dropped")
    assert _kept(tt) == ["sent anyway", "counted"]


def test_burst_uses_the_monotonic_clock_by_default():
    log, tt = _logger(sampling.burst(3, 3600))
    _emit(log, 10)
    assert _kept(tt) == [0, 1, 2]


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "error", "name"), [
    (lambda: sampling.fixed_rate(1.5), ValueError, "rate"),
    (lambda: sampling.fixed_rate(-0.1), ValueError, "rate"),
    (lambda: sampling.fixed_rate(float("nan")), ValueError, "rate"),
    (lambda: sampling.fixed_rate("0.5"), TypeError, "rate"),
    (lambda: sampling.fixed_rate(True), TypeError, "rate"),
    (lambda: sampling.fixed_rate(0.5, seed=1.5), TypeError, "seed"),
    (lambda: sampling.fixed_rate(0.5, keep_levels=["loud"]), ValueError, "keep_levels"),
    (lambda: sampling.fixed_rate(0.5, keep_levels=None), TypeError, "keep_levels"),
    (lambda: sampling.fixed_rate(0.5, id=3), TypeError, "id"),
    (lambda: sampling.per_level([0.5]), TypeError, "rates"),
    (lambda: sampling.per_level({"loud": 0.5}), ValueError, "rates"),
    (lambda: sampling.per_level({"debug": 2}), ValueError, r"rates\[debug\]"),
    (lambda: sampling.per_level({"debug": None}), TypeError, r"rates\[debug\]"),
    (lambda: sampling.per_level({}, default=-1), ValueError, "default"),
    (lambda: sampling.burst(0, 1), ValueError, "n"),
    (lambda: sampling.burst(1.5, 1), TypeError, "n"),
    (lambda: sampling.burst(1, 0), ValueError, "per_seconds"),
    (lambda: sampling.burst(1, float("inf")), ValueError, "per_seconds"),
    (lambda: sampling.burst(1, "1"), TypeError, "per_seconds"),
    (lambda: sampling.burst(1, 1, clock=1.0), TypeError, "clock"),
    (lambda: sampling.burst(1, 1, keep_levels=[99]), ValueError, "keep_levels"),
])
def test_bad_options_name_the_argument(build, error, name):
    with pytest.raises(error, match=name):
        build()


def test_module_exports():
    assert sampling.__all__ == ["burst", "fixed_rate", "per_level"]


# -- one draw per entry, in order: the compiled gates and the pure ones agree -------------


def _reference(seed: int, count: int, rate: float) -> list[int]:
    """The entries a seeded fixed_rate keeps when it draws exactly once per entry."""
    rng = random.Random(seed)
    return [i for i in range(count) if rng.random() < rate]


def test_a_seeded_sampler_draws_once_per_entry_in_order():
    a, b, c = TestTransport("a"), TestTransport("b"), TestTransport("c")
    log, _ = _logger(sampling.fixed_rate(0.5, seed=11), transports=[a, b, c])
    _emit(log, 500)
    assert _kept(a) == _kept(b) == _kept(c) == _reference(11, 500, 0.5)


def test_a_gate_called_directly_decides_once_per_params_object():
    gate = sampling.fixed_rate(0.5, seed=4).should_send

    class Params:
        level = LogLevel.INFO

    answers = []
    for _ in range(200):
        params = Params()
        first = gate(params)
        assert gate(params) is first  # a second transport asking: the same answer
        answers.append(first)
    assert [i for i, kept in enumerate(answers) if kept] == _reference(4, 200, 0.5)


def test_many_samplers_compose_in_order():
    # More gates than the compiled core keeps per-entry answers for in one integer: the
    # later ones are asked the ordinary way, and every gate still decides once per
    # entry, and only when the gates before it let the entry through.
    seeds = range(70)
    a, b = TestTransport("a"), TestTransport("b")
    log, _ = _logger(*[sampling.fixed_rate(0.995, seed=s) for s in seeds], transports=[a, b])
    _emit(log, 300)
    rngs = [random.Random(s) for s in seeds]
    expected = [i for i in range(300) if all(rng.random() < 0.995 for rng in rngs)]
    assert _kept(a) == _kept(b) == expected
    assert 0 < len(expected) < 300


def test_a_failing_clock_is_asked_again_by_the_next_transport(capsys):
    calls = []

    def broken() -> float:
        calls.append(1)
        raise OSError("clock unavailable")

    a, b = TestTransport("a"), TestTransport("b")
    log, _ = _logger(sampling.burst(1, 1.0, clock=broken, id="b"), transports=[a, b])
    log.info("sent anyway")
    assert _kept(a) == _kept(b) == ["sent anyway"]
    assert len(calls) == 2
    assert capsys.readouterr().err.count("'b'") == 2


def test_a_copied_sampler_keeps_its_gate():
    import copy

    plugin = sampling.fixed_rate(0.5, seed=2, id="s")
    twin = copy.deepcopy(plugin)
    log, tt = _logger(twin)
    _emit(log, 200)
    assert twin.id == "s" and _kept(tt) == _reference(2, 200, 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("per_seconds", [0.5, 1.0])  # the fine clock, and the coarse one
def test_burst_with_the_default_clock_reopens_after_the_window(per_seconds):
    import time

    log, tt = _logger(sampling.burst(2, per_seconds))
    _emit(log, 5)
    time.sleep(per_seconds * 1.2 + 0.01)  # past the window, by more than a clock tick
    log.info("next window")
    assert _kept(tt) == [0, 1, "next window"]


def test_a_seeded_sampler_owns_its_generator(monkeypatch):
    import gc

    made = []

    class Recorded(random.Random):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(sampling.random, "Random", Recorded)
    plugin = sampling.fixed_rate(0.5, seed=1)
    log, tt = _logger(plugin)
    _emit(log, 50)
    (generator,) = made
    del plugin, log, made[:]
    gc.collect()
    assert sys.getrefcount(generator) == 2  # this name and the call's argument: no more
    generator.random()  # still a live object, not freed under the caller's feet


def test_a_proxy_of_a_gate_is_called_as_a_function():
    class Traced:
        """A forwarding wrapper, as wrapt and mock-style proxies are."""

        def __init__(self, fn) -> None:
            self.fn, self.calls = fn, 0

        def __call__(self, params):
            self.calls += 1
            return self.fn(params)

        def __getattr__(self, name):
            return getattr(self.fn, name)

    from loglayer import send_gate

    traced = Traced(sampling.fixed_rate(0.5, seed=9).should_send)
    log, tt = _logger(send_gate("traced", traced))
    _emit(log, 40)
    assert traced.calls == 40
    assert _kept(tt) == _reference(9, 40, 0.5)


def test_burst_accepts_any_large_n():
    log, tt = _logger(sampling.burst(2**70, 1.0))
    _emit(log, 5)
    assert len(tt) == 5
