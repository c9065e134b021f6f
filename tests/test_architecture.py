"""The package's shape: imports flow one way through the layers, no cycle, one named concern per file.

Layers (low to high): ``isnet/__init__.py``, ``io``, ``markdown`` (0) ← ``models``, ``method`` (1) ← ``data`` (2) ←
``engine`` (3) ← ``study`` (4) ← ``bench``, ``cli``, ``__main__`` (5). A module may import its own layer
or a lower one, never a higher one; ``models`` does not import ``method``. An ``isnet`` module is
imported at module top, never inside a function (a function may import an optional third-party
package). A file that only re-points ``sys.modules`` (an alias kept at an old path) sits above every
layer, and no code in ``isnet`` imports it; only ``isnet.pra``, ``isnet.metrics`` and ``isnet.losses`` (the
short names users type) are aliases. A module over ``MAX_LINES`` lines says why at its top, in
a docstring line starting with ``LONG_MARKER``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "isnet"
MAX_LINES = 400
LONG_MARKER = "Why this file is long:"
LAYERS = {"io": 0, "markdown": 0, "models": 1, "method": 1, "data": 2, "engine": 3, "study": 4, "bench": 5, "cli": 5,
          "__main__": 5}
ALIAS_LAYER = 6
ALIASES_NOTE = ("(only the short public names isnet.pra, isnet.metrics and isnet.losses may stay aliases; import "
                "every other module by its layer path)")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def is_alias(tree: ast.Module) -> bool:
    """A module whose body re-points ``sys.modules[__name__]``."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and ast.unparse(t.value) == "sys.modules" for t in node.targets):
            return True
    return False


def layer(module: str) -> int:
    if is_alias(TREES[module]):
        return ALIAS_LAYER
    parts = module.split(".")
    return 0 if len(parts) == 1 else LAYERS[parts[1]]


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str) -> list[tuple[str, ast.stmt, bool]]:
    """``(imported isnet module, statement, inside a function)`` for every import of an isnet module."""
    tree = TREES[module]
    package = module if _is_package(module) else module.rpartition(".")[0]
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "isnet"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "isnet":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            targets = subs if subs and len(subs) == len(node.names) else [target, *subs]
        for t in targets:
            while t not in MODULES and "." in t:  # ``import isnet.x.y`` of a name inside a module
                t = t.rpartition(".")[0]
            out.append((t, node, id(node) in in_function))
    return out


def _where(module: str, node: ast.stmt) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{node.lineno}"


def test_every_module_is_in_a_layer():
    unknown = [m for m in MODULES if m != "isnet" and m.split(".")[1] not in LAYERS and not is_alias(TREES[m])]
    assert not unknown, f"modules outside the layer map {sorted(LAYERS)}: {unknown}"


def test_imports_flow_down_the_layers():
    bad = []
    for module in MODULES:
        for target, node, _ in imports(module):
            if target == module:
                continue
            upward = layer(target) > layer(module)
            models_to_method = module.startswith("isnet.models") and target.startswith("isnet.method")
            if upward or models_to_method:
                bad.append(f"{_where(module, node)}: {module} (layer {layer(module)}) imports {target} "
                           f"(layer {layer(target)})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_isnet_import_inside_a_function():
    bad = [f"{_where(m, node)}: {m} imports {t} inside a function"
           for m in MODULES for t, node, inside in imports(m) if inside]
    assert not bad, "\n".join(bad)


def test_no_code_imports_an_alias():
    bad = [f"{_where(m, node)}: {m} imports the alias {t}"
           for m in MODULES if not is_alias(TREES[m])
           for t, node, _ in imports(m) if is_alias(TREES[t])]
    assert not bad, "import the new path, not the alias:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {m: sorted({t for t, _, inside in imports(m) if not inside and t != m}) for m in MODULES}
    cycles, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_names_its_concern_first():
    missing = [str(MODULES[m].relative_to(PACKAGE.parent)) for m, tree in TREES.items()
               if not (ast.get_docstring(tree) or "").strip().splitlines()]
    assert not missing, f"modules without a docstring whose first line names their concern: {missing}"


def test_long_modules_say_why():
    long = []
    for m, path in MODULES.items():
        n = len(path.read_text().splitlines())
        doc = ast.get_docstring(TREES[m]) or ""
        if n > MAX_LINES and not any(line.strip().startswith(LONG_MARKER) for line in doc.splitlines()):
            long.append(f"{path.relative_to(PACKAGE.parent)} ({n} lines)")
    assert not long, (f"modules over {MAX_LINES} lines without a docstring line starting with "
                      f"{LONG_MARKER!r}: {long}")


def test_only_the_public_short_names_are_aliases():
    aliases = sorted(m for m, tree in TREES.items() if is_alias(tree))
    public = {"isnet.pra", "isnet.metrics", "isnet.losses"}  # names users type (issue 13); they may stay
    assert not [a for a in aliases if a not in public], f"alias modules left at old paths: {aliases} {ALIASES_NOTE}"


@pytest.mark.parametrize("name", ["isnet.models.build_generator", "isnet.pra.progressive_inpaint",
                                  "isnet.metrics.psnr", "isnet.metrics.ssim", "isnet.losses.InpaintingLoss",
                                  "isnet.study.Study", "isnet.study.PROFILES"])
def test_public_names_import(name):
    import importlib

    module, _, attr = name.rpartition(".")
    assert hasattr(importlib.import_module(module), attr), name
