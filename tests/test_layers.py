"""The package's import graph is one-way: no cycles, and no import against the layers.

Read from the code with ``ast`` (nothing is imported), like ``../shared/tools/house.py``:
module-level and in-function imports alike, imports under ``if TYPE_CHECKING:`` left out.
The layers are the map in ``kagglekit/__init__.py``'s docstring; a new module must be given
a layer here, which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "shared" / "kagglekit"

# Longest prefix wins. A module may import from its own layer or below.
LAYERS: dict[str, int] = {
    "_moved": 0,
    "errors": 0,
    "atomic": 0,
    "provenance": 0,
    "config": 1,
    "metrics": 1,
    "tasks": 1,
    "records": 1,
    "project": 1,
    # The official client's wrapper (imports only errors): fetching competition files
    # (data.sources) goes through it, as do submissions and kernels above.
    "kaggle.api": 1,
    "data": 2,
    "loaders": 2,
    "folds": 2,
    "features": 2,
    "models": 2,
    "submission": 2,
    # A per-user splitter with no package imports: the fold schemes use it.
    "recsys.splits": 2,
    "torch": 3,
    "vision": 3,
    "text": 3,
    "recsys": 3,
    "training": 4,
    "tuning": 5,
    "ensembling": 5,
    "auto": 5,
    "adversarial": 5,
    "reports": 5,
    "kaggle": 5,
    "scaffold": 5,
    "notebook": 5,
    "demo": 5,
    "cli": 6,
}
# Test fixtures build whole projects from any layer; the package root loads its surface
# lazily (importlib, no static import).
EXEMPT_SUFFIXES = ("testing",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, me: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules that ``me`` imports (``from kagglekit import x`` counts as
    ``x`` when ``x`` is a module, as Python resolves it)."""
    found: set[str] = set()

    def resolve(target: str, names: list[str]) -> None:
        for name in names:
            candidate = f"{target}.{name}" if target else name
            if candidate in known:
                found.add(candidate)
            elif target in known:
                found.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.ImportFrom):
                names = [alias.name for alias in child.names]
                if child.level:
                    base = me.split(".") if me else []
                    base = base if is_package else base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                    resolve(target, names)
                elif child.module == "kagglekit":
                    resolve("", names)
                elif child.module and child.module.startswith("kagglekit."):
                    resolve(child.module.removeprefix("kagglekit."), names)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("kagglekit."):
                        name = alias.name.removeprefix("kagglekit.")
                        while name and name not in known:
                            name = name.rpartition(".")[0]
                        if name:
                            found.add(name)
            visit(child)

    visit(tree)
    found.discard(me)
    return found


def _graph() -> dict[str, set[str]]:
    files = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    trees = {_module_name(p): (p, ast.parse(p.read_text(), str(p))) for p in files}
    known = set(trees)
    return {
        m: _imports(tree, m, path.name == "__init__.py", known) for m, (path, tree) in trees.items()
    }


def _layer(module: str) -> int | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    return None


def _is_shim(module: str) -> bool:
    """An old path kept for one release: it only aliases the new module."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    return path.is_file() and "from kagglekit._moved import alias" in path.read_text()


def _exempt(module: str) -> bool:
    return module == "" or module.endswith(EXEMPT_SUFFIXES) or _is_shim(module)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
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
            strong(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_every_module_has_a_layer() -> None:
    missing = [m for m in _graph() if not _exempt(m) and _layer(m) is None]
    assert not missing, f"modules with no layer in tests/test_layers.py LAYERS: {missing}"


def test_no_import_runs_against_the_layers() -> None:
    against = []
    for module, targets in sorted(_graph().items()):
        if _exempt(module):
            continue
        mine = _layer(module)
        for target in sorted(targets):
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                against.append(f"{module} (layer {mine}) -> {target} (layer {theirs})")
    assert not against, "imports against the layers:\n" + "\n".join(against)


def test_nothing_in_the_package_imports_an_old_path() -> None:
    graph = _graph()
    users = [
        f"{m} -> {t}"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if _is_shim(t) and not _is_shim(m)
    ]
    assert not users, f"package modules importing a deprecated path: {users}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from kagglekit import atomic\n", {"atomic"}),
        ("from kagglekit.models.base import Backend\n", {"models.base"}),
        ("import kagglekit.atomic as atomic\n", {"atomic"}),
        ("if TYPE_CHECKING:\n    from kagglekit.models import base\n", set()),
        ("def f():\n    from kagglekit.errors import KKError\n", {"errors"}),
    ],
)
def test_the_reader_sees_every_form_of_import(source: str, expected: set[str]) -> None:
    known = {"atomic", "errors", "models", "models.base"}
    assert _imports(ast.parse(source), "cli", False, known) == expected


def test_the_checks_find_a_cycle_and_an_upward_import() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _layer("training.cv") == 4 and _layer("recsys.splits") == 2
    assert _layer("nowhere") is None


def test_the_package_surface_names_what_it_loads() -> None:
    import kagglekit

    assert sorted(kagglekit.__all__) == sorted(["__version__", *kagglekit._SURFACE])
    for name in kagglekit._SURFACE:
        assert getattr(kagglekit, name) is not None, name


def test_the_readme_layout_table_names_every_module() -> None:
    """Each module is named (in backticks) in docs/layout.md's row for its folder."""
    readme = (PACKAGE.parents[1] / "docs" / "layout.md").read_text()
    rows: dict[str, str] = {}  # a folder's path -> its rows (the top folder has several)
    for line in readme.splitlines():
        cells = [c.strip().strip("`") for c in line.split("|")]
        path = next((c for c in cells if c.startswith("shared/kagglekit/")), None)
        if line.startswith("|") and path:
            rows[path] = rows.get(path, "") + line
    missing = []
    for module in sorted(_graph()):
        leaf = module.rpartition(".")[2]
        if not module or _is_shim(module) or leaf.startswith("_"):
            continue
        if (PACKAGE / module.replace(".", "/")).is_dir():  # a package: it has its own row
            if f"shared/kagglekit/{module.replace('.', '/')}/" not in rows:
                missing.append(f"{module} (no row of its own)")
            continue
        folder = "shared/kagglekit/" + "".join(p + "/" for p in module.split(".")[:-1])
        if f"`{leaf}`" not in rows.get(folder, ""):
            missing.append(f"{module} (row {folder})")
    assert not missing, f"modules missing from docs/layout.md's layout table: {missing}"
