"""The package's layering, read from the source: the pure core (dagster_project/slowlog/) imports
nothing of the package around it, and each shared fact has one home."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.corpus import REPO

PACKAGE = REPO / "dagster_project"


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in a module of the package."""
    pkg = list(path.relative_to(PACKAGE.parent).parts[:-1])  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
    return out


def test_the_core_imports_nothing_outside_it():
    core = PACKAGE / "slowlog"
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in sorted(core.rglob("*.py"))
        for name, line in _imports(path)
        if name.startswith("dagster_project") and not name.startswith("dagster_project.slowlog")
        or name.split(".")[0] in ("dagster", "boto3", "botocore", "opensearchpy", "slack_sdk")
    ]
    assert not outside, outside


def test_the_engine_list_has_one_home():
    from dagster_project.slowlog.engines import ENGINES, get_engine

    assert ENGINES == ("mysql", "postgres", "redis")
    assert all(get_engine(e).engine == e for e in ENGINES)
    # nobody else spells the list out
    spelled = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "slowlog" / "engines" / "__init__.py"
        and ('("mysql", "postgres", "redis")' in path.read_text() or '"mysql", "postgres", "redis"]' in path.read_text())
    ]
    assert not spelled, spelled
