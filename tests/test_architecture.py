"""The import rules of ARCHITECTURE.md, read from the source with `ast`: no cycle between the package's
modules, each room imports only the rooms it may, and the report and data CLIs stay free of Lightning."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGES = ("fer_lightning", "hydra_plugins")

# Room -> the rooms it may import (a room is a top-level module or subpackage of fer_lightning).
ALLOWED: dict[str, set[str]] = {
    "fer2013": set(),
    "results": set(),
    "naming": set(),
    "paper_figures": set(),
    "plotting": set(),
    "resolvers": {"fer2013"},
    "data": {"fer2013"},
    "models": {"fer2013"},
    "module": {"data", "fer2013", "models"},
    "tracking": {"data", "fer2013", "naming", "plotting"},
    "checkpoint": {"data", "module"},
    "robustness": {"checkpoint", "data", "fer2013", "plotting", "results", "tracking"},
    "report": {"naming", "paper_figures", "plotting", "results"},
    "hpo": {"results", "tracking"},
    "train": {"data", "models", "module", "naming", "results", "tracking"},
    "__main__": {"results", "train"},
    "predict": {"checkpoint", "data", "fer2013"},
    "export": {"checkpoint", "fer2013"},
    "__init__": {"resolvers"},
}
HEAVY = {"pytorch_lightning", "lightning", "wandb", "torch"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(path: Path, name: str, modules: set[str]) -> tuple[set[str], set[str]]:
    """(every module this file imports, those imported when the module itself is imported), without the
    imports under `if TYPE_CHECKING`. `from a import b` is module a.b when that is one of `modules`."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    every, at_import = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            submodules = {f"{base}.{a.name}" for a in node.names} & modules
            found = submodules or {base}
        else:
            continue
        if _under_type_checking(node, parents):
            continue
        every |= found
        if not isinstance(parents.get(node), ast.FunctionDef | ast.AsyncFunctionDef) and not any(
            isinstance(p, ast.FunctionDef | ast.AsyncFunctionDef) for p in _ancestors(node, parents)
        ):
            at_import |= found
    return every, at_import


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
    out = []
    while node in parents:
        node = parents[node]
        out.append(node)
    return out


def _graph() -> dict[str, tuple[set[str], set[str]]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    names = {_module_name(p): p for p in files}
    return {name: _imports(path, name, set(names)) for name, path in names.items()}


GRAPH = _graph()
OURS = set(GRAPH)


def _ours(imported: set[str]) -> set[str]:
    return {m for m in imported if m in OURS}


def _room(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_no_module_imports_itself_back() -> None:
    edges = {m: _ours(every) - {m} for m, (every, _) in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(n) :], n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_each_room_imports_only_the_rooms_it_may() -> None:
    wrong = []
    for module, (every, _) in GRAPH.items():
        if module.startswith("hydra_plugins"):
            allowed = {m for m in _ours(every) if m.startswith(("hydra_plugins", "fer_lightning.hpo"))}
            wrong += [f"{module} -> {m}" for m in _ours(every) - allowed]
            continue
        room = _room(module)
        assert room in ALLOWED, f"{module}: room {room!r} is not in ARCHITECTURE.md's table (and ALLOWED)"
        for other in _ours(every):
            other_room = "hydra_plugins" if other.startswith("hydra_plugins") else _room(other)
            if other_room != room and other_room not in ALLOWED[room]:
                wrong.append(f"{module} -> {other}")
    assert not wrong, "imports across the rooms' rules:\n" + "\n".join(sorted(wrong))


def _loaded_by(module: str) -> set[str]:
    """Every module imported when `module` is imported: its parents, their imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        parts = m.split(".")
        for k in range(1, len(parts) + 1):
            name = ".".join(parts[:k])
            if name in seen:
                continue
            seen.add(name)
            if name in GRAPH:
                todo += list(GRAPH[name][1])
    return seen


@pytest.mark.parametrize("cli", ["fer_lightning.report.__main__", "fer_lightning.data.__main__"])
def test_the_report_and_data_clis_load_no_lightning_torch_or_wandb(cli: str) -> None:
    heavy = {m for m in _loaded_by(cli) if m.split(".")[0] in HEAVY}
    assert not heavy, f"{cli} imports {sorted(heavy)}"
