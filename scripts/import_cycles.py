"""Count import cycles among the modules of ``src/g2d`` (an AST walk: module-level and
function-level imports both count; imports under ``if TYPE_CHECKING:`` never run and do not).
Importing ``a.b.c`` also runs ``a.b``'s ``__init__`` (an edge to it, unless the importer lives in
``a.b``), and a package whose ``__init__`` calls ``import_submodules(__name__, __path__, ...)``
imports each of its submodules (edges to them).

    python scripts/import_cycles.py [SRC_DIR]

Prints the number of strongly connected components with more than one module (each is one
cycle or a knot of cycles), their members, and the imports from the library core into the CLI
(``g2d.__main__``, ``g2d.cli``, ``g2d.commands``) or the benchmarks (``g2d.bench``). Exit status 1 when any exist.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

TOP = ("g2d.__main__", "g2d.cli", "g2d.commands", "g2d.bench")


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(tree: ast.AST, here: str, is_package: bool, modules: set[str]) -> set[str]:
    """Modules ``tree`` imports at run time (absolute names). ``from pkg import sub`` of a submodule
    ``sub`` imports ``pkg.sub`` (and runs ``pkg``'s ``__init__`` as its parent, see :func:`parents`)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.split(".") if is_package else here.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            subs = {f"{base}.{alias.name}" for alias in node.names}
            found.update(subs)
            if not subs <= modules:  # some name is an attribute of ``base`` itself
                found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def plugin_submodules(tree: ast.AST, name: str, path: Path, src: Path) -> set[str]:
    """Submodules a package ``__init__`` imports through ``import_submodules(__name__, __path__)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "import_submodules":
            skip = set()
            for kw in node.keywords:
                if kw.arg == "skip":
                    skip = set(ast.literal_eval(kw.value))
            return {module_name(p, src) for p in path.parent.glob("*.py")
                    if not p.stem.startswith("_") and p.stem not in skip}
    return set()


def parents(target: str, importer: str) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` runs (not the importer's own)."""
    parts = target.split(".")
    chain = {".".join(parts[:i]) for i in range(1, len(parts))}
    return {p for p in chain if not (importer == p or importer.startswith(p + "."))}


def graph(src: Path) -> dict[str, set[str]]:
    files = {module_name(p, src): p for p in src.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text())
        targets = imported(tree, name, path.name == "__init__.py", set(files))
        targets |= {p for t in targets for p in parents(t, name)}
        if path.name == "__init__.py":
            targets |= plugin_submodules(tree, name, path, src)
        edges[name] = {t for t in targets if t in files and t != name}
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative enough for a package of this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
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
            out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return [c for c in out if len(c) > 1]


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from the core (not CLI, not benchmarks) into the CLI or the benchmarks."""
    top = lambda m: any(m == t or m.startswith(t + ".") for t in TOP)  # noqa: E731
    return sorted((a, b) for a, targets in edges.items() if not top(a) for b in targets if top(b))


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src")
    edges = graph(src)
    cycles = strongly_connected(edges)
    print(f"import cycles (strongly connected components > 1 module): {len(cycles)}")
    for c in cycles:
        inside = sum(len(edges[m] & set(c)) for m in c)
        print(f"  {len(c)} modules, {inside} imports among them: {', '.join(c)}")
    up = upward(edges)
    print(f"imports from the core into the CLI or the benchmarks: {len(up)}")
    for a, b in up:
        print(f"  {a} -> {b}")
    return 1 if cycles or up else 0


if __name__ == "__main__":
    sys.exit(main())
