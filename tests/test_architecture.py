"""The package's imports flow one way: no import circles, counting imports inside functions.

The graph is read from the source with `ast`, not by importing anything, so
an import that only runs inside a function (to load Keras late, say) counts
as much as one at the top of a module: a circle through it is still a
design question (STYLE.md point 11).

Rules for an edge from module A:
- `import nophd.x.y` is an edge to nophd.x.y (the longest prefix that is a
  module of the package).
- `from nophd.x import y` is an edge to nophd.x.y when y is a submodule,
  otherwise to nophd.x (y is then a name defined in nophd.x).
- Relative imports are resolved against A's package first.
- Imports under `if TYPE_CHECKING:` are ignored: they never run, so they
  cannot make a circle at run time (none exist in nophd today).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "nophd"



def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name ("pkg.sub.mod"; a package is its __init__)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import and ImportFrom node at any depth, except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _longest_module(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at module level or inside functions)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        own_package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = own_package.split(".")
                    base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = []
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in modules else base)
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                found = _longest_module(target, modules)
                if found is not None:
                    graph[name].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module, and modules importing themselves (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in sorted(graph.get(node, ())):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: set[str], graph: dict[str, set[str]]) -> str:
    """One circle as its modules and the imports between them."""
    edges = sorted(f"{source} -> {target}" for source in component for target in graph[source] if target in component)
    return f"{{{', '.join(sorted(component))}}}: " + "; ".join(edges)


def test_the_package_has_no_import_circles():
    graph = import_graph(PACKAGE_ROOT, "nophd")
    assert len(graph) > 40, "the graph should hold every module of nophd"
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(component, graph) for component in found)



def test_leaves_and_layers_import_only_downwards():
    graph = import_graph(PACKAGE_ROOT, "nophd")
    # Leaves: scoring, text formatting and the version import nothing of nophd.
    for leaf in ("nophd.scoring", "nophd.text", "nophd.version"):
        assert graph[leaf] == set(), f"{leaf} is a leaf but imports {sorted(graph[leaf])}"
    for module, imported in graph.items():
        if module.startswith(("nophd.reports", "nophd.inference")):
            training = sorted(target for target in imported if target.startswith("nophd.training"))
            assert not training, f"{module} imports {training}: reports and inference sit below training"
        if module not in ("nophd.cli", "nophd.__main__") and not module.startswith("nophd.cli."):
            assert "nophd.cli" not in imported, f"{module} imports the CLI"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    _write(tmp_path / "fake", {
        "__init__.py": "",
        "leaf.py": "import os\n",
        "a.py": "from fake import leaf\nfrom fake.b import helper\n",
        "b.py": "def helper():\n    from . import a\n    return a\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..sub import d\n",
        "sub/d.py": "import fake.sub.c\n",
        "e.py": "from fake import e\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fake import hinted\n",
        "hinted.py": "import fake.typed\n",
    })
    graph = import_graph(tmp_path / "fake", "fake")
    assert graph["fake.a"] == {"fake.leaf", "fake.b"}
    assert graph["fake.b"] == {"fake.a"}
    found = circles(graph)
    assert sorted(sorted(component) for component in found) == [
        ["fake.a", "fake.b"], ["fake.e"], ["fake.sub.c", "fake.sub.d"]]
    assert "fake.a -> fake.b; fake.b -> fake.a" in describe({"fake.a", "fake.b"}, graph)


@pytest.mark.parametrize("source, expected", [
    ("from . import leaf\n", {"fake.leaf"}),
    ("from .leaf import name\n", {"fake.leaf"}),
    ("from fake import name_in_init\n", {"fake"}),
    ("import json\nimport fake.leaf as leaf\n", {"fake.leaf"}),
])
def test_import_forms_become_edges(tmp_path, source, expected):
    _write(tmp_path / "fake", {"__init__.py": "", "leaf.py": "", "user.py": source})
    assert import_graph(tmp_path / "fake", "fake")["fake.user"] == expected
