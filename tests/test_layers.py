"""Layers only look down: intents <- knowledge_base <- assistant <- server, kiosk.

Every module's syntax tree is read, so an import tucked inside a function counts as much
as one at the top: a lower layer that imports a higher one at run time is still tied to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Each layer and the packages above it, which it must never import.
HIGHER_LAYERS = {
    "intents": ("knowledge_base", "assistant", "server", "kiosk"),
    "knowledge_base": ("assistant", "server", "kiosk"),
    "assistant": ("server", "kiosk"),
}


def imported_names(path: Path, root: Path) -> set[str]:
    """Every name a file imports, anywhere in it: ``module`` or ``module.name`` for ``from module import name``
    (relative imports resolved to absolute ones)."""
    package = ".".join(path.relative_to(root).parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # Qualified, so that `from assistant import settings` is seen as assistant.settings.
            names.update(module if alias.name == "*" else f"{module}.{alias.name}" for alias in node.names)
    return names


def layer_violations(layer: str, root: Path = REPO) -> list[str]:
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for module in sorted(imported_names(path, root)):
            higher = next((top for top in HIGHER_LAYERS[layer] if module == top or module.startswith(top + ".")), None)
            if higher is None:
                continue
            found.append(f"{path.relative_to(root).as_posix()} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(HIGHER_LAYERS))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    assert layer_violations(layer) == []


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    (tmp_path / "knowledge_base" / "sub").mkdir(parents=True)
    (tmp_path / "knowledge_base" / "sub" / "probe.py").write_text(
        "import json\n"
        "from .. import models\n"
        "from assistant import dialogue\n"
        "from knowledge_base.settings import Settings\n"
        "def later():\n    import server.app\n    return server.app\n", encoding="utf-8")
    assert layer_violations("knowledge_base", tmp_path) == ["knowledge_base/sub/probe.py imports assistant.dialogue",
                                                            "knowledge_base/sub/probe.py imports server.app"]
