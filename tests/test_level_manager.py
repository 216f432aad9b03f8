"""Level managers: ``LogLayer(level_manager="copy" | "global" | "one_way" | "linked")``.

Who a level change reaches: with "copy" only the logger it is made on; with "one_way"
that logger and every logger derived from it (already or later, directly or not); with
"global" and "linked" the whole family. Derived loggers keep no parent alive, changes
are safe from many threads, and the entries sent follow the levels.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest

import loglayer
from loglayer import LogLevel
from loglayer._family import LevelNode
from loglayer.testing import TestTransport

MANAGERS = ("copy", "global", "one_way", "linked")

#: (name, change, check that the change took effect)
CHANGES = [
    ("set_level", lambda log: log.set_level(LogLevel.ERROR),
     lambda log: not log.is_level_enabled(LogLevel.WARN) and log.is_level_enabled(
         LogLevel.ERROR)),
    ("disable_level", lambda log: log.disable_level(LogLevel.INFO),
     lambda log: not log.is_level_enabled(LogLevel.INFO) and log.is_level_enabled(
         LogLevel.DEBUG)),
    ("enable_level", lambda log: (log.set_level(LogLevel.FATAL), log.enable_level("debug")),
     lambda log: log.is_level_enabled(LogLevel.DEBUG) and not log.is_level_enabled(
         LogLevel.INFO)),
    ("disable_logging", lambda log: log.disable_logging(),
     lambda log: not log.is_level_enabled(LogLevel.FATAL)),
]


def family(core, manager: str) -> dict[str, Any]:
    """root -> a -> a1, root -> b: a small family of the given manager."""
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    a = root.with_fields(branch="a")
    a1 = a.child()
    b = root.with_prefix("b")
    return {"root": root, "a": a, "a1": a1, "b": b}


#: Who a change made on each member reaches, per manager.
REACHES = {
    "copy": {"root": {"root"}, "a": {"a"}, "a1": {"a1"}, "b": {"b"}},
    "one_way": {"root": {"root", "a", "a1", "b"}, "a": {"a", "a1"}, "a1": {"a1"},
                "b": {"b"}},
    "global": dict.fromkeys(("root", "a", "a1", "b"), {"root", "a", "a1", "b"}),
    "linked": dict.fromkeys(("root", "a", "a1", "b"), {"root", "a", "a1", "b"}),
}


@pytest.mark.parametrize("manager", MANAGERS)
@pytest.mark.parametrize("where", ["root", "a", "a1", "b"])
@pytest.mark.parametrize(("name", "change", "took"), CHANGES, ids=[c[0] for c in CHANGES])
def test_who_a_change_reaches(core, manager, where, name, change, took):
    members = family(core, manager)
    change(members[where])
    reached = {member for member, log in members.items() if took(log)}
    assert reached == REACHES[manager][where]


@pytest.mark.parametrize("manager", MANAGERS)
def test_a_logger_derived_later_starts_from_the_current_state(core, manager):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    root.set_level(LogLevel.WARN)
    child = root.child()
    assert not child.is_level_enabled(LogLevel.INFO)
    assert child.is_level_enabled(LogLevel.WARN)
    # and keeps following under the managers that propagate downwards
    root.set_level(LogLevel.DEBUG)
    assert child.is_level_enabled(LogLevel.INFO) is (manager != "copy")


@pytest.mark.parametrize("manager", ["one_way", "linked", "global"])
def test_a_change_crosses_a_collected_logger_in_the_middle(core, manager):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    grandchild = root.with_fields(a=1).with_fields(b=2)  # the middle one is dropped
    gc.collect()
    root.set_level(LogLevel.ERROR)
    assert not grandchild.is_level_enabled(LogLevel.WARN)
    grandchild.set_level(LogLevel.TRACE)
    assert root.is_level_enabled(LogLevel.TRACE) is (manager != "one_way")


@pytest.mark.parametrize("manager", MANAGERS)
def test_derived_loggers_keep_no_parent_alive(core, manager):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    child = root.with_fields(a=1)
    grandchild = child.child()
    refs = [weakref.ref(root), weakref.ref(child)]
    del root, child
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    grandchild.set_level(LogLevel.ERROR)  # the family still works without them
    assert not grandchild.is_level_enabled(LogLevel.WARN)


def _level_nodes() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is LevelNode)


@pytest.mark.parametrize("manager", ["global", "one_way", "linked"])
def test_short_lived_derived_loggers_leave_nothing_behind(core, manager):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    before = _level_nodes()
    for n in range(500):
        root.with_fields(request=n).child().info("handled")
    assert _level_nodes() == before
    root.set_level(LogLevel.WARN)  # and a change visits only the live family


def test_copy_keeps_no_family(core):
    before = _level_nodes()
    root = core.LogLayer(transports=TestTransport("tt"))
    children = [root.child() for _ in range(10)]
    assert _level_nodes() == before
    assert len(children) == 10


@pytest.mark.parametrize("manager", MANAGERS)
def test_entries_follow_the_levels_the_manager_set(core, manager):
    tt = TestTransport("tt")
    root = core.LogLayer(transports=tt, level_manager=manager)
    child = root.with_fields(svc="api")
    root.set_level(LogLevel.ERROR)
    child.info("dropped unless copy")
    child.with_metadata({"k": 1}).warn("dropped unless copy")
    child.error("always")
    expected = [["dropped unless copy"], ["dropped unless copy"], ["always"]] \
        if manager == "copy" else [["always"]]
    assert [entry.messages for entry in tt.lines] == expected


@pytest.mark.parametrize("manager", ["global", "linked"])
def test_concurrent_changes_and_derivations_leave_one_state(core, manager):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager=manager)
    members = [root]
    lock = threading.Lock()
    start = threading.Barrier(4)
    levels = list(LogLevel)

    def work(n: int) -> None:
        start.wait()
        for i in range(300):
            with lock:
                parent = members[(n + i) % len(members)]
            new = parent.with_fields(n=n)
            with lock:
                members.append(new)
            new.set_level(levels[(n + i) % len(levels)])
            parent.disable_level(levels[i % len(levels)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = {tuple(log.is_level_enabled(level) for level in LogLevel) for log in members}
    assert len(states) == 1, states


def test_concurrent_one_way_changes_reach_every_descendant(core):
    root = core.LogLayer(transports=TestTransport("tt"), level_manager="one_way")
    descendants: list[Any] = []
    lock = threading.Lock()

    def derive() -> None:
        log = root
        for i in range(200):
            log = log.with_fields(i=i) if i % 2 else root.child()
            with lock:
                descendants.append(log)

    def change() -> None:
        for _ in range(200):
            root.set_level(LogLevel.DEBUG)
            root.set_level(LogLevel.ERROR)

    threads = [threading.Thread(target=derive) for _ in range(2)]
    threads += [threading.Thread(target=change) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    root.set_level(LogLevel.WARN)  # the last change: every descendant has it
    assert all(not log.is_level_enabled(LogLevel.INFO) and log.is_level_enabled(LogLevel.WARN)
               for log in descendants)


@pytest.mark.parametrize(("value", "error", "text"), [
    ("shared", ValueError, "level_manager must be one of 'copy', 'global', 'one_way', "
                           "'linked', got 'shared'"),
    (1, TypeError, "level_manager must be one of 'copy', 'global', 'one_way', 'linked', "
                   "got int"),
])
def test_a_bad_manager_names_the_argument(core, value, error, text):
    with pytest.raises(error) as caught:
        core.LogLayer(transports=TestTransport("tt"), level_manager=value)
    assert str(caught.value) == text


def test_from_config_takes_level_manager():
    root = loglayer.from_config({"level_manager": "one_way", "level": "info"})
    child = root.child()
    root.set_level(LogLevel.ERROR)
    assert not child.is_level_enabled(LogLevel.WARN)
    with pytest.raises(ValueError, match=r"^level_manager: must be one of 'copy', 'global', "
                                         r"'one_way', 'linked', got 'both'$"):
        loglayer.from_config({"level_manager": "both"})
