"""The house: every module sits in a layer, and every import points down.

`src/acctstate/` holds one folder per layer (values and rules, engine, operations,
outside world), bottom up; inside a layer the parts are ranked too. A module may import
only from its own part or from parts ranked below it: at module level, inside functions
and methods alike (only `if TYPE_CHECKING:` blocks are exempt). No two modules import
each other, directly or round a longer circle. The public paths at the top
(`acctstate.workflow`, `acctstate.presets.isp`, …) are faces over the layers: nothing in
a layer may import them. Only the engine imports `transitions`, and `import acctstate`
loads no optional extra.
"""

from __future__ import annotations

import ast
import itertools
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "acctstate"
DESIGN = pathlib.Path(__file__).resolve().parents[1] / "docs" / "design.md"

# Bottom up: (folder, what the layer is, its parts lowest first). A part is a module
# (`errors`) or a folder of modules (`batch`); a private module of a layer folder
# (`_views`) is a part of its own. A module may import only from its own part or from a
# part earlier in this list.
LAYERS: list[tuple[str, str, list[str]]] = [
    (
        "values",
        "values and rules",
        [
            "errors",
            "_views",
            "status",
            "catalog",
            "clock",
            "invoices",
            "actors",
            "_change_args",
            "guards",
            "_effect_kinds",
            "_effect_rules",
            "effects",
            "ledger",
            "_cause",
            "history",
            "holds",
            "account",
            "graph",
            "diagram",
        ],
    ),
    (
        "core",
        "engine",
        [
            "engine",
            "_workflow_defaults",
            "_workflow_views",
            "_workflow_schedule",
            "_workflow_build",
            "_workflow_fire",
            "workflow",
        ],
    ),
    (
        "operations",
        "operations",
        ["money", "schedule", "holds", "automation", "invoices", "scopes", "stats", "batch"],
    ),
    (
        "world",
        "outside world",
        [
            "config",
            "presets",
            "simulation",
            "export",
            "testing",
            "store",
            "distributed",
            "contrib",
            "cli_store",
            "cli",
        ],
    ),
]
# The public faces: the package itself and the paths users import (`acctstate.workflow`),
# each the very module of a layer. They may import anything; no layer imports them.
FACE = "public paths"

OPTIONAL = {
    "numpy",
    "pandas",
    "sqlalchemy",
    "psycopg",
    "dask",
    "distributed",
    "pyarrow",
    "pyspark",
    "matplotlib",
    "graphviz",
    "nbclient",
    "nbformat",
    "hypothesis",
    "mkdocs",
    "django",
    "aiosqlite",
    "greenlet",
    "fastapi",
    "httpx",
    "uvicorn",
}

RANK: dict[str, int] = {}
for _folder, _what, _parts in LAYERS:
    for _part in _parts:
        RANK[f"{_folder}.{_part}"] = len(RANK)


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str | None:
    """`layer.part` for a module inside a layer, FACE for a public path, None if unplaced."""
    bits = module.split(".")[1:]
    if not bits or bits[0] not in {folder for folder, _, _ in LAYERS}:
        return FACE
    if len(bits) == 1:
        return bits[0]  # the layer folder itself: a package with nothing in it
    key = f"{bits[0]}.{bits[1]}"
    return key if key in RANK else None


def layer_of(part: str) -> str:
    if part == FACE:
        return FACE
    folder = part.split(".")[0]
    return next(what for f, what, _ in LAYERS if f == folder)


def modules() -> list[pathlib.Path]:
    return sorted(SRC.rglob("*.py"))


KNOWN = {module_name(p) for p in modules()}


def _resolve(path: pathlib.Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: pathlib.Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file: module level, functions, methods,
    and `importlib.import_module("...")` with a literal name; not under TYPE_CHECKING."""
    tree = ast.parse(path.read_text() if source is None else source)

    def visit(node: ast.AST) -> Iterator[tuple[int, str]]:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in KNOWN else base
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            text = ast.unparse(node.args[0]).strip("f'\"")
            name = re.sub(r"\{.*", "", text).rstrip(".")
            if name.startswith("acctstate"):
                yield node.lineno, name
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


def internal_edges() -> Iterator[tuple[pathlib.Path, int, str, str]]:
    for path in modules():
        me = module_name(path)
        for line, name in imports(path):
            if name == "acctstate" or name.startswith("acctstate."):
                yield path, line, me, name


def test_every_module_has_a_place() -> None:
    """Each module under a layer folder belongs to a listed part of that layer."""
    unplaced = [
        f"{p.relative_to(SRC)}: add {module_name(p).split('.')[2]!r} to the parts of the "
        f"{module_name(p).split('.')[1]!r} layer in LAYERS (tests/test_layering.py), "
        "at its rank"
        for p in modules()
        if part_of(module_name(p)) is None
    ]
    assert not unplaced, "\n".join(unplaced)


def test_every_public_path_is_a_face_over_a_layer() -> None:
    """Outside the layer folders there are only the package, `__main__` and public paths
    that re-export a module of a layer (no code of their own)."""
    stray = []
    for path in modules():
        me = module_name(path)
        if part_of(me) != FACE or path.name == "__main__.py" or me == "acctstate":
            continue
        tree = ast.parse(path.read_text())
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        if defs:
            stray.append(f"{path.relative_to(SRC)} defines {[d.name for d in defs]}")
    assert not stray, stray


def test_no_import_points_up() -> None:
    """No module imports a part above its own, wherever the import statement stands."""
    bad = []
    for path, line, me, name in internal_edges():
        mine, theirs = part_of(me), part_of(name)
        if mine is None or theirs is None or mine == FACE:
            continue
        rel = path.relative_to(SRC.parent)
        if theirs == FACE:
            if name != "acctstate":
                bad.append(
                    f"{rel}:{line} imports the public path {name} ({layer_of(mine)} -> "
                    f"{FACE}); import the module of its layer instead"
                )
            continue
        if theirs in RANK and mine in RANK and RANK[theirs] > RANK[mine]:
            bad.append(
                f"{rel}:{line} imports {name}: {mine} ({layer_of(mine)}) -> "
                f"{theirs} ({layer_of(theirs)}), which is above it"
            )
    assert not bad, "\n".join(bad)


def test_no_import_cycle() -> None:
    """No two modules import each other, directly or round a longer circle."""
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for path, line, me, name in internal_edges():
        if name in KNOWN and name != me:
            graph.setdefault(me, set()).add(name)
            where.setdefault((me, name), f"{path.relative_to(SRC.parent)}:{line}")
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                loop = [*stack[stack.index(nxt) :], nxt]
                cycles.append(" -> ".join(where[(a, b)] for a, b in itertools.pairwise(loop)))
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    assert not cycles, "\n".join(cycles)


def test_the_check_sees_imports_inside_functions() -> None:
    """The reader finds an upward import hidden in a method, and skips TYPE_CHECKING."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from acctstate.core.workflow import Workflow\n"
        "class S:\n    def view(self):\n        from acctstate.world.export import to_frame\n"
    )
    found = list(imports(SRC / "values" / "status.py", source))
    assert (6, "acctstate.world.export") in found
    assert all(name != "acctstate.core.workflow" for _, name in found)


def test_only_engine_imports_transitions() -> None:
    """`transitions` is the engine and stays inside the engine module."""
    users = [
        str(p.relative_to(SRC))
        for p in modules()
        if any(n.split(".")[0] == "transitions" for _, n in imports(p))
    ]
    assert users == ["core/engine.py"]


def test_import_acctstate_pulls_no_optional_dependency() -> None:
    """`import acctstate` (and the presets) load no optional extra."""
    code = (
        "import sys, acctstate, acctstate.presets.isp\n"
        f"print(sorted(m for m in {sorted(OPTIONAL)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def layers_mermaid() -> str:
    """The layers as a Mermaid flowchart, top layer first, arrows pointing down."""
    lines = ["flowchart TB"]
    ordered = list(reversed(LAYERS))
    for folder, what, parts in ordered:
        names = ", ".join(p for p in parts if not p.startswith("_"))
        lines.append(f'    {folder}["<b>{what}</b> · {folder}/<br/>{names}"]')
    for (upper, _, _), (lower, _, _) in itertools.pairwise(ordered):
        lines.append(f"    {upper} --> {lower}")
    return "\n".join(lines)


def test_design_page_shows_these_layers() -> None:
    """docs/design.md draws exactly the layers this test enforces (regenerate the block
    with `python tests/test_layering.py` when LAYERS changes)."""
    block = re.search(r"```mermaid\n(flowchart TB(?:\n.*?)?)\n```", DESIGN.read_text(), re.S)
    assert block is not None, "docs/design.md has no layer diagram"
    assert block.group(1) == layers_mermaid(), "run: python tests/test_layering.py"


if __name__ == "__main__":
    text = DESIGN.read_text()
    new = re.sub(
        r"```mermaid\nflowchart TB(?:\n.*?)?\n```",
        lambda _: f"```mermaid\n{layers_mermaid()}\n```",
        text,
        flags=re.S,
    )
    DESIGN.write_text(new)
