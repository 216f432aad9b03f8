"""The package's import graph: no cycle, and every import runs down the layers.

Read from the sources (``src/loglayer`` and the Cython modules in ``cext/``), so it
holds whichever core is live. Only module-level imports count: an import inside a
function runs when it is called, after every module has loaded, and one under
``if TYPE_CHECKING:`` never runs.

The layers, from the bottom: helpers that import nothing of the package above them
(``base``); the kernel and its twin; the renderers and ``_select``, which picks a
kernel and a renderer; the kernel's clients (transports, plugins and the plugin hosts
in ``isolation``, which know nothing of each other); the assembly (configuration, the
ready logger, the stdlib facade, the registry, the test kit); the benchmark.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "loglayer"
CEXT = ROOT / "cext"

#: Compiled modules: their source file and their name at run time.
CYTHON_MODULES = {
    "loglayer._core": CEXT / "_core.pyx",
    "loglayer._render": CEXT / "_render.pyx",
    "loglayer.utils._clonefast": CEXT / "_clonefast.pyx",
    "loglayer.plugins._samplefast": CEXT / "_samplefast.pyx",
    "loglayer.isolation._wasmfast": CEXT / "_wasmfast.pyx",
    "loglayer._stdlibfast": CEXT / "_stdlibfast.pyx",
    "loglayer._core.pxd": CEXT / "loglayer" / "_core.pxd",
    "loglayer._hookabi": CEXT / "loglayer" / "_hookabi.pxd",
}

BASE, KERNEL, RENDER, CLIENTS, ASSEMBLY, BENCH = range(6)
LAYER_NAMES = ["base", "kernel", "render", "clients", "assembly", "bench"]

#: Module name prefixes and their layer; the longest matching prefix wins.
LAYERS = {
    "loglayer.levels": BASE,
    "loglayer.errors": BASE,
    "loglayer.plugin": BASE,
    "loglayer._native": BASE,
    "loglayer._common": BASE,
    "loglayer._version": BASE,
    "loglayer._validate": BASE,
    "loglayer._lifecycle": BASE,
    "loglayer._records": BASE,
    "loglayer._errorfmt": BASE,
    "loglayer._multiline": BASE,
    "loglayer._context": BASE,
    "loglayer._callsite": BASE,
    "loglayer._family": BASE,
    "loglayer._routing": BASE,
    "loglayer.typing": BASE,
    "loglayer._hookabi": BASE,
    "loglayer.utils": BASE,
    "loglayer._core": KERNEL,
    "loglayer._core_py": KERNEL,
    "loglayer._render": RENDER,
    "loglayer._render_py": RENDER,
    "loglayer._select": RENDER,
    "loglayer.transports": CLIENTS,
    "loglayer.plugins": CLIENTS,
    "loglayer.isolation": CLIENTS,
    "loglayer._config": ASSEMBLY,
    "loglayer._default": ASSEMBLY,
    "loglayer._taps": ASSEMBLY,
    "loglayer.registry": ASSEMBLY,
    "loglayer.stdlib": ASSEMBLY,
    "loglayer._stdlibfast": ASSEMBLY,
    "loglayer.testing": ASSEMBLY,
    "loglayer.pytest_plugin": ASSEMBLY,
    "loglayer": ASSEMBLY,  # the package's __init__: the public names
    "loglayer.bench": BENCH,
}

#: Client families that must not import each other.
FAMILIES = {"loglayer.transports": "transports", "loglayer.plugins": "plugins",
            "loglayer.isolation": "plugins"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _python_modules() -> dict[str, pathlib.Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")
            if "proto" not in path.relative_to(PACKAGE).parts}


def _known(name: str, modules: set[str]) -> str | None:
    """``name`` or its closest enclosing package among the package's modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _python_imports(module: str, path: pathlib.Path, modules: set[str]) -> set[str]:
    """The package modules ``module`` imports at module level (``if``/``try`` included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    base = base[:len(base) - node.level + (1 if is_package else 0)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                names = _from_import(origin, [alias.name for alias in node.names], modules)
            elif isinstance(node, ast.If) and _type_checking_only(node):
                visit(node.orelse)  # what a type checker imports never runs
                continue
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))
                continue
            else:
                continue
            for name in names:
                target = _known(name, modules)
                if target is not None and target != module:
                    found.add(target)

    visit(ast.parse(path.read_text("utf-8")).body)
    return found


def _type_checking_only(node: ast.If) -> bool:
    """Whether ``node`` is ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _from_import(origin: str, names: list[str], modules: set[str]) -> list[str]:
    """What ``from origin import names`` depends on: each name that is a submodule, and
    ``origin`` itself when a name is an attribute of it (a package being initialised is
    not a dependency of ``from . import submodule``)."""
    targets = [f"{origin}.{name}" for name in names if f"{origin}.{name}" in modules]
    if len(targets) < len(names):
        targets.append(origin)
    return targets


_CYTHON_FROM = re.compile(r"^from\s+(loglayer[\w.]*)\s+c?import\s+([^(\n]*)", re.M)
_CYTHON_IMPORT = re.compile(r"^c?import\s+(loglayer[\w.]*)", re.M)


def _cython_imports(path: pathlib.Path, modules: set[str]) -> set[str]:
    source = path.read_text("utf-8")
    names = [match.group(1) for match in _CYTHON_IMPORT.finditer(source)]
    for match in _CYTHON_FROM.finditer(source):
        imported = [part.split()[0] for part in match.group(2).split(",") if part.strip()]
        names += _from_import(match.group(1), imported or ["(...)"], modules)
    return {target for target in map(lambda name: _known(name, modules), names)
            if target is not None}


def import_graph() -> dict[str, set[str]]:
    python = _python_modules()
    modules = set(python) | set(CYTHON_MODULES)
    graph = {name: _python_imports(name, path, modules) for name, path in python.items()}
    for name, path in CYTHON_MODULES.items():
        graph[name] = _cython_imports(path, modules) - {name}
    return graph


def layer_of(module: str) -> int:
    module = module.removesuffix(".pxd")
    best = max((prefix for prefix in LAYERS
                if module == prefix or module.startswith(prefix + ".")), key=len)
    return LAYERS[best]


def family_of(module: str) -> str | None:
    for prefix, family in FAMILIES.items():
        if module == prefix or module.startswith(prefix + "."):
            return family
    return None


def test_every_module_has_a_layer():
    graph = import_graph()
    assert len(graph) > 40
    for module in graph:
        assert layer_of(module) in range(len(LAYER_NAMES)), module


def test_no_import_cycle():
    graph = import_graph()
    done: set[str] = set()
    path: list[str] = []

    def walk(module: str) -> None:
        if module in done:
            return
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        path.append(module)
        for target in sorted(graph.get(module, ())):
            walk(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        walk(module)


def test_imports_run_down_the_layers():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                wrong.append(f"{module} ({LAYER_NAMES[layer_of(module)]}) imports "
                             f"{target} ({LAYER_NAMES[layer_of(target)]})")
    assert not wrong, "\n".join(wrong)


def test_transports_and_plugins_do_not_import_each_other():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        family = family_of(module)
        if family is None:
            continue
        wrong += [f"{module} imports {target}" for target in sorted(targets)
                  if family_of(target) not in (None, family)]
    assert not wrong, "\n".join(wrong)


def test_the_kernel_imports_no_renderer_transport_plugin_or_configuration():
    graph = import_graph()
    for kernel in ("loglayer._core", "loglayer._core_py", "loglayer._core.pxd"):
        assert all(layer_of(target) == BASE for target in graph[kernel]), (kernel,
                                                                           graph[kernel])
        assert "orjson" not in CYTHON_MODULES.get(kernel, PACKAGE / "_core_py.py").read_text(
            "utf-8")


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The graph really is read from the sources: a cycle and an upward import show."""
    modules = {"loglayer._core_py", "loglayer._config", "loglayer.levels"}
    source = tmp_path / "_core_py.py"
    source.write_text("from ._config import from_config\nimport loglayer.levels\n", "utf-8")
    found = _python_imports("loglayer._core_py", source, modules)
    assert found == {"loglayer._config", "loglayer.levels"}
    assert layer_of("loglayer._config") > layer_of("loglayer._core_py")
