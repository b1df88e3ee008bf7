"""The pipeline's stages import forwards only: data -> space -> engine -> training -> tracking ->
export -> the commands; no two modules import each other, even through others; no module is
over MAX_LINES lines. Read from the source (ast), function-level imports included, so a late
`from .export import ...` inside a function counts like one at the top."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Each stage, and the later stages it must not import (modules named from the package root).
LATER = {
    "seqsearch.data": ("seqsearch.engines", "seqsearch.training", "seqsearch.tracking", "seqsearch.export",
                       "seqsearch.api", "seqsearch.cli"),
    "seqsearch.engines": ("seqsearch.training", "seqsearch.tracking", "seqsearch.export", "seqsearch.api",
                          "seqsearch.cli"),
    "seqsearch.candidate": ("seqsearch.training", "seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate",
                            "seqsearch.api", "seqsearch.cli"),
    "seqsearch.fold_models": ("seqsearch.training", "seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate",
                              "seqsearch.finish", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.training": ("seqsearch.tracking", "seqsearch.export", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.augment": ("seqsearch.tracking", "seqsearch.export", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.feeding": ("seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate", "seqsearch.finish", "seqsearch.api",
                        "seqsearch.cli"),
    "seqsearch.fit_callbacks": ("seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate", "seqsearch.finish", "seqsearch.api",
                        "seqsearch.cli"),
    "seqsearch.measure": ("seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate", "seqsearch.finish", "seqsearch.api",
                        "seqsearch.cli"),
    "seqsearch.tf_internals": ("seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate", "seqsearch.finish", "seqsearch.api",
                        "seqsearch.cli"),
    "seqsearch.formats": ("seqsearch.finish", "seqsearch.workers", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.local_store": ("seqsearch.tracking", "seqsearch.export", "seqsearch.finish", "seqsearch.api",
                              "seqsearch.cli"),
    "seqsearch.tracking": ("seqsearch.export", "seqsearch.finish", "seqsearch.api", "seqsearch.cli"),
    # The best model in MLflow's form; its pyfunc file is shipped alone (nothing of seqsearch's).
    "seqsearch.mlflow_model": ("seqsearch.tracking", "seqsearch.export", "seqsearch.finish", "seqsearch.api",
                               "seqsearch.cli"),
    "seqsearch.pyfunc_labels": ("seqsearch",),
    # The run's parts (dataset, space, engine) come before any trial is trained.
    "seqsearch.parts": ("seqsearch.training", "seqsearch.tracking", "seqsearch.export", "seqsearch.evaluate",
                        "seqsearch.finish", "seqsearch.workers", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.evaluate": ("seqsearch.export", "seqsearch.finish", "seqsearch.workers", "seqsearch.api",
                           "seqsearch.cli"),
    "seqsearch.workers": ("seqsearch.export", "seqsearch.finish", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.finish": ("seqsearch.workers", "seqsearch.api", "seqsearch.cli"),
    # The study folder and its record: nothing of seqsearch's but the error type.
    "seqsearch.study": tuple(f"seqsearch.{m}" for m in (
        "data", "engines", "training", "tracking", "export", "finish", "evaluate", "workers", "parts", "api", "cli",
        "config", "budget", "ensemble", "predict", "progress", "status")),
    "search_spaces": ("seqsearch",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module the source of module ``name`` imports, as absolute names (relative imports
    resolved)."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from . import export`
    return out


SOURCES = sorted(p for d in ("seqsearch", "search_spaces") for p in (REPO / d).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_import_points_back_against_the_pipeline(path):
    name = module_name(path)
    bad = back_arrows(path.read_text(), name, path.name == "__init__.py")
    assert not bad, f"{name} imports {bad}, a later stage of the pipeline"


def back_arrows(source: str, name: str, is_package: bool = False) -> list[str]:
    rules = [later for stage, later in LATER.items() if name == stage or name.startswith(stage + ".")]
    return sorted(i for i in imports(source, name, is_package) for later in rules for stage in later
                  if (i == stage or i.startswith(stage if stage.endswith(".") else stage + "."))
                  and not i.startswith(name))


def test_the_check_finds_a_back_arrow_inside_a_function():
    # As tracking once had: a relative import of export inside a method.
    source = "class Tracker:\n    def log(self):\n        from .export import exported_trials\n"
    assert back_arrows(source, "seqsearch.tracking") == ["seqsearch.export", "seqsearch.export.exported_trials"]
    # ...and in a subpackage, two levels up; while an import of an earlier stage is fine.
    source = "from ..tracking import Tracker\nfrom .dataset import Dataset\nfrom ..errors import one_line\n"
    assert back_arrows(source, "seqsearch.data.loaders") == ["seqsearch.tracking", "seqsearch.tracking.Tracker"]
    assert back_arrows("import seqsearch.api\n", "search_spaces.conv") == ["seqsearch.api"]


# Modules over this many lines hold several concepts: split them (one concept per module).
MAX_LINES = 400


def import_graph() -> dict[str, set[str]]:
    """Each module of ``seqsearch`` and ``search_spaces`` and the modules of both it imports
    (an imported name resolved to the module that defines it)."""
    names = {module_name(p): p for p in SOURCES}
    graph = {}
    for name, path in names.items():
        deps = set()
        for i in imports(path.read_text(), name, path.name == "__init__.py"):
            parts = i.split(".")
            while parts and ".".join(parts) not in names:
                parts.pop()
            if parts and ".".join(parts) != name:
                deps.add(".".join(parts))
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (strongly
    connected components of more than one module, Tarjan's algorithm)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_two_modules_import_each_other():
    found = circles(import_graph())
    assert not found, "modules that import each other (move what both need into a module of its own): " + \
        "; ".join(" <-> ".join(group) for group in found)


def test_the_check_finds_a_circle_through_a_third_module():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_is_over_the_line_limit(path):
    rel = str(path.relative_to(REPO))
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{rel} has {n} lines, over {MAX_LINES}: split it into modules of one concept each"


def private_imports(source: str, name: str, is_package: bool = False) -> list[str]:
    """Names with a leading underscore that ``source`` imports from another module of ours (a
    private helper used elsewhere should be public, in the module of its concept)."""
    modules = {module_name(p) for p in SOURCES}
    package = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if not mod.startswith(("seqsearch", "search_spaces")):
                continue
            out += [f"{mod}.{a.name}" for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__") and f"{mod}.{a.name}" not in modules]
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_imports_another_modules_private_names(path):
    bad = private_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not bad, f"{module_name(path)} imports private names {bad}: make them public where they belong"


def test_the_check_finds_a_private_name_but_not_a_private_module():
    assert private_imports("from .data import _check_path\n", "seqsearch.predict") == ["seqsearch.data._check_path"]
    assert private_imports("from ._backend import load_keras\nfrom . import _backend\n", "seqsearch.api") == []


# A function longer than this (its docstring not counted) holds several steps: name them.
MAX_FUNCTION_LINES = 60


def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of every function in ``source`` longer than MAX_FUNCTION_LINES, from its
    ``def`` to its last line, less its docstring (nested functions count in their parent too)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str):
                n -= first.end_lineno - first.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append((node.name, n))
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_function_is_over_the_line_limit(path):
    found = long_functions(path.read_text())
    assert not found, f"{path.relative_to(REPO)}: " + ", ".join(f"{name} ({n} lines)" for name, n in found) + \
        f" over {MAX_FUNCTION_LINES}: split the steps into functions of their own"


def test_the_function_check_counts_without_the_docstring():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    doc = '    """One\n    two\n    three."""\n'
    assert long_functions(f"def f():\n{doc}{body}") == []  # 60 lines of code
    assert long_functions(f"def f():\n{doc}{body}    x = 0\n") == [("f", MAX_FUNCTION_LINES + 1)]
