"""Request-scoped fields: bind_contextvars and friends.

Loggers come from the ``core`` fixture: both cores merge the bound fields.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from loglayer import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)


@pytest.fixture(autouse=True)
def fresh_context():
    """Each test runs in a copy of the context, so bindings never leak between tests."""
    context = contextvars.copy_context()
    yield context
    clear_contextvars()


def test_bound_fields_merge_into_data_under_the_loggers_own(core, tt):
    log = core.LogLayer(transports=tt, fields={"who": "logger"})
    bind_contextvars(request_id="r-1", who="context")
    log.info("x")
    assert tt.last_line().data == {"request_id": "r-1", "who": "logger"}
    assert get_contextvars() == {"request_id": "r-1", "who": "context"}


def test_unbind_and_clear(core, tt):
    log = core.LogLayer(transports=tt)
    bind_contextvars(a=1, b=2)
    unbind_contextvars("a", "missing")
    log.info("x")
    assert tt.last_line().data == {"b": 2}
    clear_contextvars()
    log.info("y")
    assert tt.last_line().data == {}


def test_bound_contextvars_restores(core, tt):
    log = core.LogLayer(transports=tt)
    bind_contextvars(outer=1)
    with bound_contextvars(inner=2, outer=3):
        log.info("in")
    log.info("out")
    assert [e.data for e in tt.lines] == [{"outer": 3, "inner": 2}, {"outer": 1}]


def test_with_fields_key_and_mute(core, tt):
    log = core.LogLayer(transports=tt, fields_key="ctx")
    bind_contextvars(rid="r")
    log.info("x")
    assert tt.last_line().data == {"ctx": {"rid": "r"}}
    log.mute_fields()
    log.info("y")
    assert tt.last_line().data == {}


def test_binding_never_mutates_a_dict_another_context_holds(core, tt):
    log = core.LogLayer(transports=tt)
    bind_contextvars(a=1)
    snapshot = contextvars.copy_context()
    bind_contextvars(b=2)
    snapshot.run(log.info, "from the snapshot")
    assert tt.last_line().data == {"a": 1}


def test_each_asyncio_task_sees_its_own_fields(core, tt):
    log = core.LogLayer(transports=tt)

    async def handle(request_id: int) -> None:
        bind_contextvars(request_id=request_id)
        for step in range(20):
            await asyncio.sleep(0)
            log.with_fields(step=step).info("step")

    async def main() -> None:
        await asyncio.gather(*(handle(n) for n in range(10)))

    asyncio.run(main())
    seen: dict[int, list[int]] = {}
    for entry in tt.lines:
        seen.setdefault(entry.data["request_id"], []).append(entry.data["step"])
    assert seen == {n: list(range(20)) for n in range(10)}


def test_each_thread_sees_its_own_fields(core, tt):
    log = core.LogLayer(transports=tt)

    def work(n: int) -> None:
        bind_contextvars(thread=n)
        for i in range(200):
            log.info(i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts: dict[int, int] = {}
    for entry in tt.lines:
        counts[entry.data["thread"]] = counts.get(entry.data["thread"], 0) + 1
    assert counts == {n: 200 for n in range(4)}


def test_dispatch_hooks_see_the_merged_fields(core, tt):
    import loglayer

    seen = []
    log = core.LogLayer(transports=tt, plugins=[loglayer.data_hook("d", lambda p: seen.append(
        dict(p.fields)))])
    bind_contextvars(rid="r")
    log.with_fields(own=1).info("x")
    assert seen == [{"rid": "r", "own": 1}]
