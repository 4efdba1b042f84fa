"""The shape of the code, checked so that it stays this way: imports point down the layers, no import circle
anywhere (function-level and type-checking imports included), and no function or class grows past a size a
reader can hold (ruff's complexity rules, in pyproject.toml, check branches, statements and arguments)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("feature_columns", "wide_deep", "experiments")
# top first: a package may import from its own layer's packages' modules only as the lists below allow, and from
# any layer beneath it, never from one above it
LAYERS = (
    ("experiments",),
    ("wide_deep.api",),
    ("wide_deep.research",),
    ("wide_deep.run",),
    ("wide_deep.serving",),
    ("wide_deep.evidence",),
    ("wide_deep.record",),
    ("wide_deep.core",),
    ("wide_deep.data",),
    ("wide_deep.ranking",),
    ("feature_columns",),
)
PACKAGE_ROOTS = {"wide_deep": 1}  # a root package's own __init__ sits in a layer of its own choosing
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 320


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(found: dict[str, Path]) -> dict[str, set[str]]:
    """Every module → the project's modules it imports anywhere in its file."""

    def resolve(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in found.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [resolve(f"{node.module}.{alias.name}") or resolve(node.module) for alias in node.names]
            else:
                continue
            graph[module] |= {t for t in targets if t and t != module}
    return graph


def layer_of(module: str) -> int:
    if module in PACKAGE_ROOTS:
        return PACKAGE_ROOTS[module]
    for depth, layer in enumerate(LAYERS):
        if any(module == package or module.startswith(package + ".") for package in layer):
            return depth
    raise AssertionError(f"module {module} is in no layer of tests/test_architecture.py: give it one")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) < layer_of(module)
    )


def test_imports_point_down_the_layers():
    upward = upward_imports(imports(modules()))
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if module not in index:
            visit(module)
    return circles


def test_no_module_imports_itself_through_others():
    circles = import_circles(imports(modules()))
    assert not circles, f"import circles: {circles}"
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_or_class_outgrows_a_reading():
    too_long = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            limit = {ast.ClassDef: MAX_CLASS_LINES}.get(type(node), MAX_FUNCTION_LINES)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    too_long.append(f"{module}.{node.name}: {lines} lines (limit {limit})")
    assert not too_long, "\n".join(sorted(too_long))


def test_the_checks_see_every_layer_and_catch_an_upward_import():
    assert {layer_of(module) for module in modules()} == set(range(len(LAYERS)))
    assert upward_imports({"wide_deep.record.model_dir": {"wide_deep.serving.saved_model"}}) == [
        "wide_deep.record.model_dir imports wide_deep.serving.saved_model"
    ]
    assert not upward_imports({"wide_deep.serving.saved_model": {"wide_deep.record.model_dir"}})
