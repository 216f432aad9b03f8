"""Groups: tag-based routing (``LogLayer(groups=..., active_groups=..., ungrouped=...)``).

Three transports, ``db``, ``auth`` and ``main``; each test checks which of them an
entry reached. The rules: no group defined -> every transport; untagged (or tagged only
with undefined groups) -> the ``ungrouped`` rule; otherwise the transports of the tagged
groups that are enabled, active and whose level the entry meets. Group levels come
before the transports' own levels.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import loglayer
from loglayer import LogLevel
from loglayer.testing import TestTransport

GROUPS = {
    "db": {"transports": ["db", "main"]},
    "auth": {"transports": ["auth"], "level": "warn"},
    "off": {"transports": ["main"], "enabled": False},
}


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("LOGLAYER_GROUPS", raising=False)


def make(core, **config: Any) -> tuple[Any, dict[str, TestTransport]]:
    sinks = {name: TestTransport(name) for name in ("db", "auth", "main")}
    return core.LogLayer(transports=list(sinks.values()), **config), sinks


def reached(sinks: dict[str, TestTransport]) -> set[str]:
    """Which transports got the last entry; then forget it."""
    got = {name for name, sink in sinks.items() if len(sink)}
    for sink in sinks.values():
        sink.clear()
    return got


def test_no_groups_every_transport_and_no_tags(core):
    log, sinks = make(core)
    log.with_group("db").info("m")
    assert reached(sinks) == {"db", "auth", "main"}
    log.info("m")
    assert reached(sinks) == {"db", "auth", "main"}
    assert log.get_groups() == {}


@pytest.mark.parametrize(("ungrouped", "expected"), [
    ("all", {"db", "auth", "main"}), ("none", set()), (["main", "auth"], {"main", "auth"}),
])
def test_untagged_entries_follow_the_ungrouped_rule(core, ungrouped, expected):
    log, sinks = make(core, groups=GROUPS, ungrouped=ungrouped)
    log.info("untagged")
    assert reached(sinks) == expected
    log.with_group("nope", "unknown").info("only undefined tags")
    assert reached(sinks) == expected


def test_tagged_entries_go_to_their_groups_transports(core):
    log, sinks = make(core, groups=GROUPS, ungrouped="none")
    log.with_group("db").info("m")
    assert reached(sinks) == {"db", "main"}
    log.with_group("db", "nope").info("an undefined tag beside a defined one")
    assert reached(sinks) == {"db", "main"}
    log.with_group("off").error("a disabled group")
    assert reached(sinks) == set()
    log.with_group("off", "nope").error("disabled and undefined: not the ungrouped rule")
    assert reached(sinks) == set()


def test_group_levels_filter_before_the_transports(core):
    log, sinks = make(core, groups=GROUPS, ungrouped="none")
    log.with_group("auth").info("below the group's level")
    assert reached(sinks) == set()
    log.with_group("auth", "db").info("db takes it, auth does not")
    assert reached(sinks) == {"db", "main"}
    sinks["db"].level = LogLevel.ERROR
    log.with_group("auth", "db").warn("auth's group passes; db's transport level refuses")
    assert reached(sinks) == {"auth", "main"}


def test_the_final_level_after_level_hooks_is_what_groups_see(core):
    log, sinks = make(core, groups=GROUPS, ungrouped="none",
                      plugins=[loglayer.level_hook("up", lambda p: LogLevel.ERROR)])
    log.with_group("auth").info("raised to ERROR by the hook")
    assert reached(sinks) == {"auth"}


def test_tags_accumulate_deduplicated_and_builders_tag_one_entry(core):
    hooks_saw: list[tuple[str, ...]] = []
    log, sinks = make(core, groups=GROUPS, ungrouped="none",
                      plugins=[loglayer.data_hook("see", lambda p: hooks_saw.append(p.groups))])
    db = log.with_group("db").with_group("auth", "db")
    db.with_metadata({"k": 1}).with_group("auth", "extra").error("m")
    entry = sinks["db"].last_line()
    assert entry.groups == ("db", "auth", "extra")
    assert hooks_saw == [("db", "auth", "extra")]
    db.warn("the builder's tag was for one entry")
    assert sinks["auth"].last_line().groups == ("db", "auth")
    reached(sinks)
    log.info("the parent is untagged, and ungrouped is none")
    assert reached(sinks) == set()


def test_gates_see_the_groups(core):
    seen: list[tuple[tuple[str, ...], str]] = []

    def gate(params):
        seen.append((params.groups, params.transport_id))
        return True

    log, sinks = make(core, groups=GROUPS, ungrouped="none",
                      plugins=[loglayer.send_gate("g", gate)])
    log.with_group("db").info("m")
    assert seen == [(("db",), "db"), (("db",), "main")]  # gates run after routing


def test_active_groups_limit_routing(core):
    log, sinks = make(core, groups=GROUPS, active_groups=["auth"], ungrouped="none")
    log.with_group("db").error("db is not active")
    assert reached(sinks) == set()
    log.with_group("db", "auth").error("m")
    assert reached(sinks) == {"auth"}
    log.set_active_groups(None)
    log.with_group("db").error("every group is active again")
    assert reached(sinks) == {"db", "main"}
    log.set_active_groups(["db"])
    log.with_group("auth").error("m")
    assert reached(sinks) == set()


def test_the_environment_sets_active_groups_and_levels(core, monkeypatch):
    monkeypatch.setenv("LOGLAYER_GROUPS", "db:error, auth:debug")
    log, sinks = make(core, groups=GROUPS, ungrouped="none")
    log.with_group("auth").debug("auth's level lowered to debug by the variable")
    assert reached(sinks) == {"auth"}
    log.with_group("db").warn("db's level raised to error")
    assert reached(sinks) == set()
    log.with_group("off").fatal("not active")
    assert reached(sinks) == set()
    assert log.get_groups()["auth"]["level"] is LogLevel.DEBUG


def test_explicit_active_groups_win_over_the_environment(core, monkeypatch):
    monkeypatch.setenv("LOGLAYER_GROUPS", "auth")
    log, sinks = make(core, groups=GROUPS, active_groups=["db"], ungrouped="none")
    log.with_group("db").info("m")
    assert reached(sinks) == {"db", "main"}


def test_runtime_changes_are_copy_on_write(core):
    log, sinks = make(core, groups=GROUPS, ungrouped="none")
    child = log.child()
    log.add_group("audit", ["main"], level=LogLevel.INFO)
    log.with_group("audit").info("m")
    assert reached(sinks) == {"main"}
    child.with_group("audit").info("the child does not know audit: ungrouped -> none")
    assert reached(sinks) == set()
    assert log.disable_group("db") is True
    log.with_group("db").info("m")
    assert reached(sinks) == set()
    child.with_group("db").info("the child's db is still on")
    assert reached(sinks) == {"db", "main"}
    assert log.enable_group("db") is True
    assert log.set_group_level("db", "error") is True
    log.with_group("db").warn("m")
    assert reached(sinks) == set()
    assert log.set_group_level("db", None) is True
    assert log.remove_group("db") is True
    assert log.remove_group("db") is False
    assert log.enable_group("nope") is False
    assert log.disable_group("nope") is False
    assert log.set_group_level("nope", "info") is False
    assert set(log.get_groups()) == {"auth", "off", "audit"}
    assert child.get_groups() == {
        "db": {"transports": ["db", "main"], "level": None, "enabled": True},
        "auth": {"transports": ["auth"], "level": LogLevel.WARN, "enabled": True},
        "off": {"transports": ["main"], "level": None, "enabled": False},
    }


def test_add_group_on_a_logger_with_none(core):
    log, sinks = make(core)
    log.add_group("db", ["db"])
    log.with_group("db").info("m")
    assert reached(sinks) == {"db"}
    log.info("untagged: ungrouped defaults to all")
    assert reached(sinks) == {"db", "auth", "main"}
    other, _ = make(core)
    assert other.remove_group("db") is False
    other.set_active_groups(["db"])
    other.info("no group defined: every transport")


def test_routing_while_groups_change_loses_nothing_routed(core):
    log, sinks = make(core, groups=GROUPS, ungrouped="none")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            log.add_group("tmp", ["auth"])
            log.remove_group("tmp")

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(2000):
            log.with_group("db").info("m")
    finally:
        stop.set()
        flipper.join()
    assert len(sinks["db"]) == 2000 and len(sinks["auth"]) == 0


def test_entries_and_params_have_empty_groups_by_default(core):
    log, sinks = make(core)
    log.info("m")
    assert sinks["db"].last_line().groups == ()
    params = core.HookParams(LogLevel.INFO, [], {}, None, None, {}, None, None)
    assert params.groups == ()


@pytest.mark.parametrize(("config", "error", "text"), [
    ({"groups": ["db"]}, TypeError, "groups must be a mapping of group names to group "
                                     "settings or None, got list"),
    ({"groups": {"db": ["db"]}}, TypeError, "groups['db'] must be a mapping with "
                                             "'transports' (and optionally 'level', "
                                             "'enabled'), got list"),
    ({"groups": {"db": {}}}, ValueError, "groups['db'] must list its 'transports'"),
    ({"groups": {"db": {"transports": "db"}}}, TypeError,
     "groups['db'].transports must be a list of transport IDs, got str"),
    ({"groups": {"db": {"transports": [1]}}}, TypeError,
     "groups['db'].transports[0] must be a non-empty str, got int"),
    ({"groups": {"db": {"transports": [], "level": "loud"}}}, ValueError,
     "groups['db'].level must be a log level"),
    ({"groups": {"db": {"transports": [], "enabled": 1}}}, TypeError,
     "groups['db'].enabled must be a bool, got int"),
    ({"groups": {"db": {"transports": [], "colour": 1}}}, ValueError,
     "groups['db'] has unknown keys ['colour']"),
    ({"groups": {"": {"transports": []}}}, ValueError,
     "groups key must be a non-empty str, got ''"),
    ({"active_groups": "db"}, TypeError, "active_groups must be a list of group names or "
                                         "None, got str"),
    ({"active_groups": [None]}, TypeError, "active_groups[0] must be a non-empty str, "
                                           "got None"),
    ({"ungrouped": "some"}, ValueError, "ungrouped must be 'all', 'none' or a list of "
                                        "transport IDs, got 'some'"),
    ({"ungrouped": 3}, TypeError, "ungrouped must be a list of transport IDs, got int"),
])
def test_bad_options_name_the_argument(core, config, error, text):
    with pytest.raises(error) as caught:
        core.LogLayer(transports=TestTransport("t"), **config)
    assert str(caught.value).startswith(text)


def test_bad_environment_names_the_variable(core, monkeypatch):
    monkeypatch.setenv("LOGLAYER_GROUPS", "db:loud")
    with pytest.raises(ValueError, match=r"^LOGLAYER_GROUPS \(db\) must be a log level"):
        core.LogLayer(transports=TestTransport("t"), groups=GROUPS)


def test_bad_runtime_arguments_name_the_argument(core):
    log, _ = make(core)
    with pytest.raises(TypeError, match=r"^with_group\(\)\[0\] must be a non-empty str, "
                                        r"got int$"):
        log.with_group(1)
    with pytest.raises(TypeError, match=r"^with_group\(\)\[1\] must be a non-empty str"):
        log.with_metadata({}).with_group("a", None)
    with pytest.raises(TypeError, match=r"^groups\['x'\]\.transports must be a list"):
        log.add_group("x", "db")
    with pytest.raises(ValueError, match=r"^set_group_level\(\) level must be a log level"):
        log.set_group_level("x", "loud")
    with pytest.raises(TypeError, match=r"^set_active_groups\(\) needs a list of group "
                                        r"names or None, got str$"):
        log.set_active_groups("db")


def test_from_config_takes_groups():
    log = loglayer.from_config({"groups": {"db": {"transports": ["db"], "level": "warn"}},
                                "active_groups": ["db"], "ungrouped": "none"})
    db = TestTransport("db")
    log.set_transports(db, TestTransport("other"))
    log.with_group("db").info("below the group's level")
    log.with_group("db").warn("routed")
    log.info("untagged: none")
    assert [entry.messages for entry in db.lines] == [["routed"]]
    with pytest.raises(TypeError, match=r"^groups: must be a mapping"):
        loglayer.from_config({"groups": ["db"]})


def test_plugins_of_a_queue_see_the_groups_and_its_entries_keep_them(core):
    """A QueueTransport runs its own plugins on its worker and rebuilds the entries a
    hook changed: the groups (and the call site) must survive both."""
    from loglayer.transports import QueueTransport

    seen = []

    class Tag:
        id = "tag"

        def on_before_data_out(self, params):
            seen.append(params.groups)
            return {"tagged": 1}

    tt = TestTransport("t")
    queue = QueueTransport(tt, plugins=[Tag()])
    log = core.LogLayer(transports=queue, source=True).with_group("db")
    log.info("x")
    assert queue.flush(30)
    queue.close()
    entry = tt.last_line()
    assert seen == [("db",)]
    assert entry.groups == ("db",) and entry.data["tagged"] == 1
    assert entry.source == entry.data["source"] and entry.source["function"] == (
        "test_plugins_of_a_queue_see_the_groups_and_its_entries_keep_them")
