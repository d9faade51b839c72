"""The pipeline's layers import one way only: cli → service → {sources, graph, mp, publish, review} → model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "servicemap_sync"

#: layer -> the package modules/sub-packages it may import (besides itself)
ALLOWED = {
    "sources": {"model", "errors", "config"},
    "graph": {"model", "errors"},
    "mp": {"model", "errors", "graph", "mp_templates"},
    "publish": {"errors"},
    "review": {"model", "errors", "graph", "mp"},
    "emulator": {"samples", "signals"},
    "model": {"errors"},
    "config": {"errors", "overrides"},
    "overrides": {"errors"},
    "signals": set(),
}


def imported_layers(path: Path) -> set[str]:
    """First-level servicemap_sync names imported by ``path`` (absolute or relative imports)."""
    layer_depth = len(path.relative_to(PACKAGE).parts) - 1
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = (node.module or "").split(".") if node.level > layer_depth else []
                if node.level > layer_depth and parts[0]:
                    names.add(parts[0])
                elif node.level > layer_depth:
                    names.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("servicemap_sync."):
                names.add(node.module.split(".")[1])
            elif node.module == "servicemap_sync":  # from servicemap_sync import cli
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("servicemap_sync."))
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_is_below_it(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]
    offenders = {
        str(f.relative_to(PACKAGE)): sorted(imported_layers(f) - ALLOWED[layer] - {layer})
        for f in files
        if imported_layers(f) - ALLOWED[layer] - {layer}
    }
    assert offenders == {}
