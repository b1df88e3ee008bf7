"""The pipeline's stages import forwards only: data -> space -> engine -> training -> tracking ->
export -> the commands. Read from the source (ast), function-level imports included, so a
late `from .export import ...` inside a function counts like one at the top."""

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
    "seqsearch.training": ("seqsearch.tracking", "seqsearch.export", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.augment": ("seqsearch.tracking", "seqsearch.export", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.tracking": ("seqsearch.export", "seqsearch.api", "seqsearch.cli"),
    "seqsearch.study": ("seqsearch.",),  # the study folder's record: nothing of seqsearch's
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
