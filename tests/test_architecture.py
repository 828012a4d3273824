"""The folder tree is the architecture: packages import one way, without cycles.

Every import counts, also one inside a function: a lazy import still ties two modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The components, lowest first. A module may import its own component and components of a
#: lower rank, never one of the same or a higher rank.
RANKS: dict[str, int] = {
    "geo.core": 0,
    "geo.access": 1,
    "geo.terrain": 1,
    "geo.basemap": 1,
    "geo.export": 1,
    "geo.dataset": 1,
    "geo.inputs": 2,
    "geo.coverage": 3,
    "geo.store": 3,
    "geo.operations": 4,
    "geo.siting": 4,
    "geo.timeline": 4,
    "geo.mapview": 4,
    "layers": 4,
    "cli": 5,
    "ui": 5,
    "app_pages": 6,
    "app": 7,
}

#: Entry points that only hand over to a higher component (``python -m geo`` runs :mod:`cli`).
ENTRY_POINTS = {"geo.__main__": {"cli"}}

#: Packages whose modules never import Streamlit.
NO_STREAMLIT = ("geo", "layers", "cli")

SOURCES = ("geo", "layers", "cli", "ui", "app_pages", "app.py")


def module_name(path: Path, root: Path = ROOT) -> str:
    """``geo/coverage/analysis.py`` -> ``geo.coverage.analysis``; a package's ``__init__`` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the app and the command line, by name."""
    files: list[Path] = []
    for src in SOURCES:
        p = root / src
        files.extend([p] if p.is_file() else sorted(p.rglob("*.py")))
    return {module_name(f, root): f for f in files}


def imports(source: str, modules: Iterable[str]) -> set[str]:
    """The project modules ``source`` imports (anywhere in it), resolved to module names.

    ``from a.b import c`` is module ``a.b.c`` when that is a module, else ``a.b``.
    """
    known = set(modules)
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(m for m in map(resolve, names) if m is not None)
    return found


def component(module: str) -> str:
    """The component (a key of :data:`RANKS`) a module belongs to."""
    parts = module.split(".")
    for n in (2, 1):
        if ".".join(parts[:n]) in RANKS:
            return ".".join(parts[:n])
    raise KeyError(f"{module}: in no component; add it to RANKS")


def layering_violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Imports that go sideways or up the ranks."""
    bad = []
    for mod, deps in sorted(graph.items()):
        if mod == "geo":  # the package's docstring only
            continue
        if mod in ENTRY_POINTS:
            bad.extend(
                f"{mod} (an entry point) imports {dep}" for dep in sorted(deps - ENTRY_POINTS[mod])
            )
            continue
        here = component(mod)
        for dep in sorted(deps):
            if dep == "geo":
                continue
            there = component(dep)
            if there != here and RANKS[there] >= RANKS[here]:
                bad.append(f"{mod} (rank {RANKS[here]}) imports {dep} (rank {RANKS[there]})")
    return bad


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or v in graph.get(v, ()):
                found.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    files = project_files(root)
    return {m: imports(p.read_text(encoding="utf-8"), files) - {m} for m, p in files.items()}


# ---- the checker itself can fail ------------------------------------------------------------


def test_imports_resolve_modules_and_see_lazy_imports() -> None:
    modules = ["geo.core", "geo.core.settings", "geo.terrain", "geo.terrain.dem", "layers.map"]
    source = (
        "from geo.core import settings\nfrom geo.terrain import open_dem\n"
        "def f():\n    import layers.map\n    from geo.terrain.dem import x\n"
        "import numpy\n"
    )
    assert imports(source, modules) == {
        "geo.core.settings",
        "geo.terrain",
        "layers.map",
        "geo.terrain.dem",
    }


def test_the_checker_finds_a_cycle_and_an_upward_import() -> None:
    graph = {
        "geo.terrain.dem": {"geo.terrain.viewshed"},
        "geo.terrain.viewshed": {"geo.terrain.dem"},
        "geo.core.settings": {"layers.map"},
        "layers.map": set(),
    }
    assert cycles(graph) == [["geo.terrain.dem", "geo.terrain.viewshed"]]
    assert layering_violations(graph) == ["geo.core.settings (rank 0) imports layers.map (rank 4)"]
    sideways = {"geo.store": {"geo.coverage.views"}, "geo.coverage.views": set()}
    assert layering_violations(sideways) == [
        "geo.store (rank 3) imports geo.coverage.views (rank 3)"
    ]


# ---- the project --------------------------------------------------------------------------


def test_every_module_belongs_to_a_component() -> None:
    for mod in project_files():
        if mod != "geo" and mod not in ENTRY_POINTS:
            component(mod)


def test_imports_flow_down_the_ranks() -> None:
    assert layering_violations(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("package", NO_STREAMLIT)
def test_only_the_app_imports_streamlit(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_package_states_its_public_api() -> None:
    missing = []
    for init in sorted(
        p for s in ("geo", "layers", "cli", "ui") for p in (ROOT / s).rglob("__init__.py")
    ):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        if init.parent.name in ("geo", "ui", "layers") and init.parent.parent == ROOT:
            continue  # namespaces: their docstring maps the sub-packages / modules
        names = {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        if "__all__" not in names:
            missing.append(str(init.relative_to(ROOT)))
    assert missing == []


def test_no_package_shadows_its_own_modules() -> None:
    # ``from geo.terrain import viewshed`` must give the module, not a function of that name.
    shadowed = []
    for init in sorted(
        p for s in ("geo", "layers", "cli", "ui") for p in (ROOT / s).rglob("__init__.py")
    ):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        modules = {p.stem for p in init.parent.glob("*.py")} | {
            p.name for p in init.parent.iterdir() if (p / "__init__.py").exists()
        }
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                shadowed += [
                    f"{init.relative_to(ROOT)}: {a.asname or a.name}"
                    for a in node.names
                    if (a.asname or a.name) in modules
                    and f"{node.module}.{a.name}" != f"{module_name(init)}.{a.name}"
                ]
    assert shadowed == []


#: The longest a function may be without a reason written beside it.
MAX_FUNCTION_LINES = 80
#: The mark of that reason: a comment on the ``def`` line or the line above it.
LONG_REASON = "# long:"


def long_functions(source: str) -> list[tuple[str, int]]:
    """Functions longer than :data:`MAX_FUNCTION_LINES` lines without a ``# long:`` reason."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            near = " ".join(lines[max(first - 2, 0) : node.lineno])
            if length > MAX_FUNCTION_LINES and LONG_REASON not in near:
                found.append((node.name, length))
    return found


def test_long_function_finder() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_FUNCTION_LINES + 1)]
    assert (
        long_functions(f"# long: a numba kernel reads best in one piece\ndef f():\n{body}\n") == []
    )
    assert long_functions("def g():\n    return 1\n") == []


def test_no_long_function_without_a_reason() -> None:
    found = {
        f"{m}.{name}": n
        for m, p in project_files().items()
        for name, n in long_functions(p.read_text(encoding="utf-8"))
    }
    assert found == {}
