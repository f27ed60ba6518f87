"""Dependencies point one way: a module imports only modules listed below it, only
engine.py imports `transitions`, and `import acctstate` pulls in no optional extra."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "acctstate"

# Lowest first. A module may import only modules earlier in this list (or itself).
ORDER = [
    "errors",
    "status",
    "catalog",
    "clock",
    "actors",
    "guards",
    "effects",
    "history",
    "account",
    "graph",
    "diagram",
    "engine",
    "workflow",
    "proration",
    "refunds",
    "schedule",
    "automation",
    "stats",
    "batch",
    "config",
    "presets",
    "simulation",
    "export",
    "testing",
    "store",
    "cli",
]
OPTIONAL = {
    "numpy",
    "pandas",
    "sqlalchemy",
    "psycopg",
    "dask",
    "matplotlib",
    "graphviz",
    "nbclient",
    "nbformat",
    "hypothesis",
    "mkdocs",
}


def part_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


def imports(path: pathlib.Path) -> list[str]:
    """Absolute module names imported at module level outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(
                        path.relative_to(SRC.parent).with_suffix("").parts[: -node.level]
                    )
                    found.append(f"{base}.{node.module}" if node.module else base)
                elif node.module:
                    found.append(node.module)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)

    visit(tree.body)
    return found


def modules() -> list[pathlib.Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_every_module_has_a_place() -> None:
    """Each public module belongs to a layer (private `_x.py` helpers are ranked by folder)."""
    unknown = [
        str(p)
        for p in modules()
        if part_of(p).lstrip("_") not in ORDER and not part_of(p).startswith("_")
    ]
    assert not unknown, f"add these to ORDER in tests/test_layering.py: {unknown}"


def test_imports_point_down() -> None:
    """No module imports one above it at module level."""
    bad = []
    for path in modules():
        me = part_of(path)
        if me not in ORDER:
            continue
        for name in imports(path):
            if not name.startswith("acctstate."):
                continue
            other = name.split(".")[1]
            if other in ORDER and ORDER.index(other) > ORDER.index(me):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, bad


def test_only_engine_imports_transitions() -> None:
    """`transitions` is the engine and stays inside engine.py."""
    users = [p.name for p in modules() if any(n.split(".")[0] == "transitions" for n in imports(p))]
    assert users == ["engine.py"]


def test_import_acctstate_pulls_no_optional_dependency() -> None:
    """`import acctstate` (and the presets) load no optional extra."""
    code = (
        "import sys, acctstate, acctstate.presets.isp\n"
        f"print(sorted(m for m in {sorted(OPTIONAL)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
