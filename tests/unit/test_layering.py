"""The arrows point down only: pages -> components -> agent_core (DESIGN.md).

agent_core never imports streamlit, pages or components; components never import pages;
pages, components and the entry script keep heavy libraries out of module top level."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("agent_core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_agent_core_knows_nothing_of_streamlit_or_the_ui(path):
    assert not _imports(path) & {"streamlit", "pages", "components"}


@pytest.mark.parametrize("path", _files("components"), ids=lambda p: str(p.relative_to(ROOT)))
def test_components_never_import_pages(path):
    assert "pages" not in _imports(path)


@pytest.mark.parametrize("path", _files("pages") + _files("components") + [ROOT / "streamlit_app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_heavy_libraries_stay_out_of_ui_module_top_level(path):
    assert not _imports(path, top_level_only=True) & {"pandas", "plotly", "boto3", "altair",
                                                       "matplotlib", "jupyter_client"}
