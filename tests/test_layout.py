"""The shape of the code, kept: small modules and functions, imports that point one way, and
the packages that ship into containers needing nothing but the standard library."""

import ast
import sys
from pathlib import Path

import pytest

from harness.containers.inside import SHIPPED

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "queue_core")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def modules(*packages):
    """Every module of ``packages``: its dotted name, path and syntax tree."""
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def imported(name, path, tree, *, lazy):
    """The modules ``tree`` imports: at module level, and inside functions too if ``lazy``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.walk(tree) if lazy else tree.body
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(lazy):
    known = {name: (path, tree) for name, path, tree in modules(*PACKAGES)}
    return {name: sorted({m for m in imported(name, path, tree, lazy=lazy) if m in known
                          and m != name})
            for name, (path, tree) in known.items()}


def cycles(edges):
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def package_parents(edges):
    """The edges without those from a module to the packages that contain it (importing
    ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__``: not a dependency of the code)."""
    return {name: [t for t in targets if not name.startswith(t + ".")]
            for name, targets in edges.items()}


def test_no_module_is_longer_than_500_lines():
    long = [f"{path.relative_to(ROOT)}: {len(path.read_text().splitlines())}"
            for _, path, _ in modules(*PACKAGES)
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES]
    assert long == []


def test_no_function_is_longer_than_60_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
            f"{node.end_lineno - node.lineno + 1}"
            for _, path, tree in modules(*PACKAGES) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


@pytest.mark.parametrize("lazy", [False, True], ids=["module level", "with imports in functions"])
def test_no_import_cycles(lazy):
    assert cycles(package_parents(graph(lazy))) == []


def test_queue_core_needs_only_the_standard_library():
    outside = {f"{name}: {target}" for name, path, tree in modules("queue_core")
               for target in imported(name, path, tree, lazy=True)
               if target.split(".")[0] not in (*sys.stdlib_module_names, "queue_core")}
    assert outside == set()


def test_what_ships_into_containers_needs_only_itself_queue_core_and_the_standard_library():
    shipped = {"harness" + ("." + path[:-3].replace("/", ".") if path != "__init__.py" else "")
               for path in SHIPPED}
    shipped = {name[:-len(".__init__")] if name.endswith(".__init__") else name
               for name in shipped}
    known = {name: (path, tree) for name, path, tree in modules("harness")}
    outside = set()
    for name in sorted(shipped):
        path, tree = known[name]
        for target in imported(name, path, tree, lazy=False):
            top = target.split(".")[0]
            if top in sys.stdlib_module_names or top == "queue_core" or target in shipped:
                continue
            if target.rpartition(".")[0] in shipped:  # a name imported from a shipped module
                continue
            outside.add(f"{name}: {target}")
    assert outside == set()


def test_harness_and_queue_core_never_import_the_benchmarks():
    found = {f"{name}: {target}" for name, path, tree in modules(*PACKAGES)
             for target in imported(name, path, tree, lazy=True)
             if target.split(".")[0] == "benchmarks"}
    assert found == set()
