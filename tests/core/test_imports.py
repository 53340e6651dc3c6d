"""The core reads downward: no import cycle between the modules of ``jepakit``.

Every ``import`` and ``from ... import`` in ``core/src/jepakit`` is an edge of the module
graph, wherever it is written: at the top of a module, inside a function (a lazy import
still makes the two modules depend on each other; it only hides the cycle from the
interpreter) or under ``try``. The one exception is an import under ``if TYPE_CHECKING:``:
it never runs, it only names a type for readers and type checkers, so it is not an edge.
A registration by reference (``"jepakit.masks:MultiBlockMasker"``) is a string, not an
import, and is not an edge either.

``from . import x`` is an edge to ``jepakit.x`` when ``x`` is a module, else to the package
(``jepakit/__init__.py``, a node like any other); ``from .x import y`` is an edge to
``jepakit.x.y`` when that is a module, else to ``jepakit.x``. Importing a submodule also runs
its parents' ``__init__``, but the package node is not made a parent edge of every module:
``jepakit/__init__.py`` re-exports from its submodules by design, and that is not a cycle
unless a submodule imports the package itself (``import jepakit`` or ``from . import name``
of a name defined in ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "jepakit"
ROOT = Path(__file__).resolve().parents[2] / "core" / "src" / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth, except those only under
    ``if TYPE_CHECKING:`` (its ``else`` branch does run, and counts)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``jepakit`` modules one module imports."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        for target in targets:
            while target and target not in modules:  # `import jepakit.x.y` of a name: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _edges(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted;
    every import cycle lies inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(found)


def _a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle through a component's first module, for the failure message."""
    members, start = set(component), component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:  # breadth-first: the shortest way back to start
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in parent and w != start:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    return component


def _short(name: str) -> str:
    return name.removeprefix(f"{PACKAGE}.")


def test_the_graph_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import os\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from .c import C\n"
        "else:\n"
        "    from .d import D\n"
        "def f():\n"
        "    from .e import g\n"
        "    import jepakit.f.sub\n"
    )
    modules = {f"jepakit.{m}": tmp_path for m in "abcdef"} | {"jepakit": tmp_path}
    path = tmp_path / "a.py"
    path.write_text(source)
    assert _edges("jepakit.a", path, modules) == {"jepakit.b", "jepakit.d", "jepakit.e", "jepakit.f"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _a_cycle({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}}, ["a", "b", "c"]) == ["a", "b", "a"]


def test_the_graph_covers_the_core() -> None:
    graph = import_graph()
    assert "jepakit.plugins" in graph and "jepakit.hookspecs" in graph["jepakit.plugins"]
    assert len(graph) > 30


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    if found:
        lines = [
            f"{' <-> '.join(map(_short, component))}: e.g. {' -> '.join(map(_short, _a_cycle(graph, component)))}"
            for component in found
        ]
        pytest.fail("import cycles in the core (a lazy import inside a function counts):\n" + "\n".join(lines))
