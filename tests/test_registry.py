"""loglayer.registry: names, origins, built-ins, and entry points of installed distributions."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest

import loglayer
from loglayer import registry
from loglayer.testing import TestTransport

SRC = pathlib.Path(loglayer.__file__).resolve().parent.parent  # where loglayer is imported from
PYPROJECT_TOML = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.fixture
def fresh(monkeypatch):
    """Empty the registry's state for one test: built-ins only, nothing discovered yet."""
    monkeypatch.setattr(registry, "_PLUGINS", registry._Registry(
        "plugin", registry.PLUGIN_GROUP, registry._BUILTIN_PLUGINS))
    monkeypatch.setattr(registry, "_TRANSPORTS", registry._Registry(
        "transport", registry.TRANSPORT_GROUP, registry._BUILTIN_TRANSPORTS))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path where a test lays out distributions (dist-info + modules)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def unique(stem: str) -> str:
    """A module name no other test has imported."""
    return f"{stem}_{uuid.uuid4().hex[:10]}"


def add_distribution(site: pathlib.Path, dist: str, entry_points: dict[str, dict[str, str]],
                     modules: dict[str, str] | None = None) -> None:
    """Install a distribution the way pip lays it out: a dist-info directory plus modules."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for group, names in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value}" for name, value in names.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def tag_plugin(tag: str = "x"):
    return loglayer.data_hook("tag", lambda params: {"tag": tag})


# -- registration in code --------------------------------------------------------------


def test_register_and_get_plugin_passes_options(fresh):
    registry.register_plugin("tag", tag_plugin)
    plugin = registry.get_plugin("tag", tag="y")
    tt = TestTransport()
    loglayer.LogLayer(transports=tt, plugins=[plugin]).info("hi")
    assert tt.last_line().data == {"tag": "y"}
    assert registry.plugin_factory("tag") is tag_plugin
    assert "tag" in registry.plugin_names()


def test_register_and_get_transport(fresh):
    registry.register_transport("memory", TestTransport)
    transport = registry.get_transport("memory", id="mem")
    assert isinstance(transport, TestTransport) and transport.id == "mem"
    assert registry.transport_factory("memory") is TestTransport
    assert "memory" in registry.transport_names()


def test_registering_a_name_twice_names_both_origins(fresh):
    def other_factory():
        return tag_plugin()

    registry.register_plugin("tag", tag_plugin)
    with pytest.raises(ValueError) as info:
        registry.register_plugin("tag", other_factory)
    message = str(info.value)
    assert f"{__name__}:tag_plugin" in message
    assert f"{__name__}:test_registering_a_name_twice_names_both_origins.<locals>.other_factory" \
        in message
    assert registry.plugin_factory("tag") is tag_plugin  # the first one stays


def test_registering_a_builtin_name_fails(fresh):
    with pytest.raises(ValueError, match=r"'console' is already registered by loglayer \(built-in"):
        registry.register_transport("console", TestTransport)
    with pytest.raises(ValueError, match="'redact' is already registered by loglayer"):
        registry.register_plugin("redact", tag_plugin)


def test_plugins_and_transports_are_separate_namespaces(fresh):
    registry.register_transport("tag", TestTransport)
    registry.register_plugin("tag", tag_plugin)
    assert registry.transport_factory("tag") is TestTransport
    assert registry.plugin_factory("tag") is tag_plugin


@pytest.mark.parametrize(("name", "factory", "error", "match"), [
    (1, tag_plugin, TypeError, "name must be a str, got int"),
    ("", tag_plugin, ValueError, "must not be empty"),
    ("tag", "not callable", TypeError, "factory for 'tag' must be callable, got str"),
])
def test_register_validates(fresh, name, factory, error, match):
    with pytest.raises(error, match=match):
        registry.register_plugin(name, factory)


def test_unknown_name_lists_the_known_ones(fresh):
    registry.register_plugin("tag", tag_plugin)
    with pytest.raises(LookupError) as info:
        registry.get_plugin("nope")
    message = str(info.value)
    assert message.startswith("unknown plugin 'nope'; known plugins: ")
    for name in ("tag", "redact", "sprintf", "sampling.fixed_rate", "otel_trace"):
        assert name in message
    with pytest.raises(LookupError) as info:
        registry.get_transport("nope")
    message = str(info.value)
    assert message.startswith("unknown transport 'nope'; known transports: ")
    for name in ("blank", "console", "stdlib", "structured"):
        assert name in message


def test_lookup_name_must_be_a_str(fresh):
    with pytest.raises(TypeError, match="plugin name must be a str, got NoneType"):
        registry.get_plugin(None)


def test_concurrent_registration(fresh):
    names = [f"p{i}" for i in range(200)]

    def work(chunk):
        for name in chunk:
            registry.register_plugin(name, tag_plugin)

    threads = [threading.Thread(target=work, args=(names[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(names) <= set(registry.plugin_names())


# -- built-ins --------------------------------------------------------------------------


def test_builtin_transports_resolve_to_the_classes(fresh):
    assert registry.transport_factory("structured") is loglayer.StructuredTransport
    assert registry.transport_factory("console") is loglayer.ConsoleTransport
    assert registry.transport_factory("blank") is loglayer.BlankTransport
    buffer = io.StringIO()
    log = loglayer.LogLayer(transports=registry.get_transport(
        "structured", stream=buffer, time_format=None))
    log.info("hi")
    assert json.loads(buffer.getvalue()) == {"level": "info", "msg": "hi"}


def test_builtin_names():
    assert set(registry._BUILTIN_PLUGINS) == {
        "redact", "sprintf", "filter", "otel_trace",
        "sampling.fixed_rate", "sampling.per_level", "sampling.burst"}
    assert set(registry._BUILTIN_TRANSPORTS) >= {"structured", "console", "blank"}


@pytest.mark.parametrize("name", sorted(registry._BUILTIN_PLUGINS))
def test_builtin_plugins_resolve_to_the_factories(fresh, name):
    import loglayer.plugins

    target = loglayer.plugins
    for part in name.split("."):
        target = getattr(target, part)
    assert registry.plugin_factory(name) is target
    assert registry._BUILTIN_PLUGINS[name] == f"loglayer.plugins:{name}"


def test_pyproject_declares_the_builtins_as_the_table_does():
    """The entry points the distribution declares are the built-in table, name for name."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli")
    pyproject = tomllib.loads(PYPROJECT_TOML.read_text("utf-8"))
    declared = pyproject["project"].get("entry-points", {})
    for group, table in ((registry.PLUGIN_GROUP, registry._BUILTIN_PLUGINS),
                         (registry.TRANSPORT_GROUP, registry._BUILTIN_TRANSPORTS)):
        if group in declared:
            assert declared[group] == dict(table)


@pytest.mark.slow
def test_builtins_import_nothing_until_looked_up():
    code = ("import sys; import loglayer; before = set(sys.modules); "
            "from loglayer import registry; "
            "registry.plugin_names(); registry.transport_names(); "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('loglayer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ.copy())
    # listing names imported nothing beyond the registry itself (which the package
    # may already have imported): no plugin or transport module was loaded for it
    assert out.stdout.strip() in ("[]", "['loglayer.registry']")


def test_a_missing_builtin_fails_only_its_own_name(monkeypatch):
    monkeypatch.setattr(registry, "_PLUGINS", registry._Registry("plugin", registry.PLUGIN_GROUP, {
        "gone": "loglayer_no_such_module:factory",
        "tag": f"{__name__}:tag_plugin",
    }))
    with pytest.raises(ImportError) as info:
        registry.get_plugin("gone")
    assert "plugin 'gone' from loglayer (built-in, loglayer_no_such_module:factory) " \
           "failed to load: ModuleNotFoundError" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert registry.plugin_factory("tag") is tag_plugin


# -- entry points (distributions laid out on sys.path) ---------------------------------


def test_discovery_is_lazy_and_happens_once(fresh, monkeypatch):
    calls = []
    real = importlib.metadata.distributions

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "distributions", counting)
    registry.transport_factory("console")  # a known name: no scan
    assert calls == []
    with pytest.raises(LookupError):
        registry.get_transport("nope")
    with pytest.raises(LookupError):
        registry.get_transport("nope-again")
    assert calls == [{}]


def test_entry_point_found_by_name(fresh, site):
    module = unique("goodplug")
    add_distribution(site, "good-plug", {"loglayer.plugins": {"good": f"{module}:factory"}},
                     {module: """
                         import loglayer
                         def factory(tag="ep"):
                             return loglayer.data_hook("good", lambda p: {"tag": tag})
                     """})
    plugin = registry.get_plugin("good", tag="z")
    tt = TestTransport()
    loglayer.LogLayer(transports=tt, plugins=[plugin]).info("hi")
    assert tt.last_line().data == {"tag": "z"}
    assert module in sys.modules
    sys.modules.pop(module)


def test_entry_point_is_imported_only_when_looked_up(fresh, site):
    module = unique("lazyplug")
    add_distribution(site, "lazy-plug", {"loglayer.plugins": {"lazy": f"{module}:factory"}},
                     {module: "def factory():\n    return None\n"})
    assert "lazy" in registry.plugin_names()
    assert module not in sys.modules


def test_broken_entry_point_names_its_distribution_and_hides_nothing(fresh, site):
    good, bad = unique("goodplug"), unique("badplug")
    add_distribution(site, "good-plug", {"loglayer.plugins": {"good": f"{good}:factory"}},
                     {good: "import loglayer\n"
                            "def factory():\n    return loglayer.noop_plugin('g')\n"})
    add_distribution(site, "bad-plug", {"loglayer.plugins": {"bad": f"{bad}:factory"}},
                     {bad: "raise RuntimeError('cannot start')\n"})
    with pytest.raises(ImportError) as info:
        registry.get_plugin("bad")
    message = str(info.value)
    assert "plugin 'bad' from distribution 'bad-plug'" in message
    assert "RuntimeError: cannot start" in message
    assert isinstance(info.value.__cause__, RuntimeError)
    assert registry.get_plugin("good").id == "g"
    with pytest.raises(ImportError, match="bad-plug"):  # still reported, not cached away
        registry.get_plugin("bad")
    assert {"good", "bad"} <= set(registry.plugin_names())
    sys.modules.pop(good)


def test_a_malformed_entry_points_file_hides_no_other_distribution(fresh, site):
    add_distribution(site, "good-plug", {"loglayer.plugins": {"good": "loglayer:noop_plugin"}})
    add_distribution(site, "garbled", {})
    (site / "garbled-0.1.dist-info" / "entry_points.txt").write_text(
        "[loglayer.plugins]\nno equals sign here\n")
    with pytest.raises((TypeError, ValueError)):  # importlib.metadata alone gives up on all
        importlib.metadata.entry_points(group="loglayer.plugins")
    assert registry.get_plugin("good", id="g").id == "g"
    with pytest.raises(LookupError, match="could not read the entry points of distribution "
                                          "'garbled': "):
        registry.get_plugin("nope")


def test_a_distribution_without_a_name(fresh, site):
    add_distribution(site, "nameless", {"loglayer.plugins": {"anon": "loglayer_no_such:f"}})
    (site / "nameless-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\n")
    with pytest.raises(ImportError, match=r"plugin 'anon' from an unnamed distribution "
                                          r"\(entry point anon = loglayer_no_such:f\)"):
        registry.get_plugin("anon")


def test_entry_point_to_a_missing_attribute(fresh, site):
    module = unique("attrplug")
    add_distribution(site, "attr-plug", {"loglayer.plugins": {"attr": f"{module}:nothing"}},
                     {module: "x = 1\n"})
    with pytest.raises(ImportError, match="'attr-plug'.*AttributeError"):
        registry.get_plugin("attr")
    sys.modules.pop(module)


def test_entry_point_to_something_not_callable(fresh, site):
    module = unique("constplug")
    add_distribution(site, "const-plug", {"loglayer.plugins": {"const": f"{module}:x"}},
                     {module: "x = 1\n"})
    with pytest.raises(TypeError,
                       match=r"'const' from distribution 'const-plug'.* is not callable"):
        registry.get_plugin("const")
    sys.modules.pop(module)


def test_entry_point_transport(fresh, site):
    add_distribution(site, "mem-transport", {
        "loglayer.transports": {"memory": "loglayer.testing:TestTransport"}})
    assert isinstance(registry.get_transport("memory"), TestTransport)


def test_two_distributions_claiming_a_name(fresh, site):
    add_distribution(site, "first-plug", {"loglayer.plugins": {"dup": "loglayer:noop_plugin"}})
    add_distribution(site, "second-plug", {"loglayer.plugins": {"dup": "loglayer:noop_plugin",
                                                                 "other": "loglayer:noop_plugin"}})
    with pytest.raises(ValueError) as info:
        registry.get_plugin("dup")
    message = str(info.value)
    assert "'first-plug'" in message and "'second-plug'" in message
    assert registry.get_plugin("other", id="o").id == "o"


def test_a_distribution_claiming_a_builtin_name(fresh, site):
    add_distribution(site, "rogue", {"loglayer.transports": {
        "console": "loglayer.testing:TestTransport"}})
    with pytest.raises(LookupError):
        registry.get_transport("nope")  # triggers discovery
    with pytest.raises(ValueError, match=r"'console' is claimed twice: by loglayer \(built-in.*"
                                         r"and by distribution 'rogue'"):
        registry.get_transport("console")


def test_registering_a_name_an_installed_distribution_declares(fresh, site):
    add_distribution(site, "taken-plug", {"loglayer.plugins": {"taken": "loglayer:noop_plugin"}})
    with pytest.raises(ValueError, match="'taken' is already registered by distribution "
                                         "'taken-plug'.*cannot register it again from "
                                         f"{__name__}:tag_plugin"):
        registry.register_plugin("taken", tag_plugin)


def test_loglayers_own_entry_points_are_not_a_second_claim(fresh, site):
    add_distribution(site, "loglayer", {
        "loglayer.transports": {"console": "loglayer.transports:ConsoleTransport",
                                "memory": "loglayer.testing:TestTransport"},
        "loglayer.plugins": {"redact": "loglayer.plugins:redact"},
    })
    assert registry.transport_factory("console") is loglayer.ConsoleTransport
    assert registry.transport_names().count("console") == 1
    # a name the built-in table does not list is registered like any other
    assert registry.transport_factory("memory") is TestTransport
    with pytest.raises(ValueError, match="already registered by loglayer"):
        registry.register_plugin("redact", tag_plugin)  # the built-in, not a conflict


# -- a real distribution, built and installed by pip ------------------------------------

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1"

[tool.setuptools]
py-modules = ["{module}"]

[project.entry-points."loglayer.plugins"]
{entry} = "{module}:factory"
"""

GOOD_MODULE = """\
import loglayer


def factory(tag="installed"):
    return loglayer.data_hook("myplug", lambda params: {"tag": tag})
"""

CHECK_SCRIPT = """\
import json
import loglayer
from loglayer import registry
from loglayer.testing import TestTransport

out = {}
try:
    registry.get_plugin("broken")
except ImportError as exc:
    out["broken"] = str(exc)
plugin = registry.get_plugin("myplug", tag="from-pip")
tt = TestTransport()
loglayer.LogLayer(transports=tt, plugins=[plugin]).info("hi")
out["data"] = tt.last_line().data
out["names"] = registry.plugin_names()
print(json.dumps(out))
"""


def make_package(root: pathlib.Path, dist: str, module: str, entry: str, source: str):
    pkg = root / dist
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, module=module, entry=entry))
    (pkg / f"{module}.py").write_text(source)
    return pkg


@pytest.mark.slow
def test_pip_installed_distribution(tmp_path):
    pytest.importorskip("setuptools", reason="pip --no-build-isolation builds with it")
    good = make_package(tmp_path, "myplug", "myplug", "myplug", GOOD_MODULE)
    bad = make_package(tmp_path, "brokenplug", "brokenplug", "broken",
                       "raise RuntimeError('brokenplug cannot start')\n")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--no-cache-dir",
         "--target", str(target), str(good), str(bad)],
        check=True, capture_output=True, cwd=tmp_path)
    assert (target / "myplug.py").exists()

    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    result = subprocess.run([sys.executable, "-c", CHECK_SCRIPT], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["data"] == {"tag": "from-pip"}
    assert "distribution 'brokenplug'" in out["broken"]
    assert "brokenplug cannot start" in out["broken"]
    assert {"myplug", "broken", "redact", "sampling.burst"} <= set(out["names"])
