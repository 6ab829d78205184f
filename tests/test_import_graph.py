"""The import graph of batch/ reads top-down: no cycle anywhere, and only the front ends print.

import-linter (``make lint``) checks the layer contracts in pyproject.toml; this test adds what
layers cannot see: cycles between modules of one package, and output outside the front ends.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

BATCH = Path(__file__).resolve().parent.parent / "batch"
FRONT_ENDS = ("batch/cli.py", "batch/web/")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    modules = sorted(m for m in graph.modules if m.startswith("batch"))
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if not child.startswith("batch"):
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_no_import_cycle_in_batch() -> None:
    # Imports made only for type checking never run, so they cannot form a cycle at run time.
    graph = grimp.build_graph("batch", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_only_the_front_ends_print_or_prompt() -> None:
    offenders = []
    for path in sorted(BATCH.rglob("*.py")):
        relative = path.relative_to(BATCH.parent).as_posix()
        if relative.startswith(FRONT_ENDS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ("print", "input"):
                    offenders.append(f"{relative}:{node.lineno} {node.func.id}()")
    assert offenders == []
