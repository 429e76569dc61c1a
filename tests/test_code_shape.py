"""The shape of the code: the package's import graph has no circle (module-level and function-level
imports alike), the data readers sit below the curriculum, and every file of ``src/`` and
``benchmarks/`` has at most 450 lines and every function at most 80."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mirrornet"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports, anywhere but under ``if TYPE_CHECKING:``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    resolved = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_import_graph_has_no_circle() -> None:
    graph = _graph()
    circles = sorted(name for name in graph if name in _reachable(graph, name))
    assert circles == []


def test_the_data_readers_and_the_config_sit_below_the_curriculum() -> None:
    graph = _graph()
    below = ["mirrornet.seeding", "mirrornet.config", "mirrornet.config_schema", "mirrornet.codecs",
             *(name for name in graph if name.startswith("mirrornet.data"))]
    for name in below:
        assert "mirrornet.curriculum" not in _reachable(graph, name), name


def test_a_cycle_is_found() -> None:
    """The graph check itself: a module importing its importer, inside a function, is a circle."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert sorted(n for n in graph if n in _reachable(graph, n)) == ["a", "b"]


@pytest.mark.parametrize("folder", ["src", "benchmarks"])
def test_files_and_functions_stay_small(folder: str) -> None:
    too_long = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > 450:
            too_long.append(f"{path.relative_to(ROOT)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert too_long == []
