"""The arrows point down only: app_pages -> components -> agent_core (DESIGN.md).

agent_core never imports streamlit, app_pages or components; components never import app_pages;
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
    assert not _imports(path) & {"streamlit", "app_pages", "pages", "components"}


@pytest.mark.parametrize("path", _files("components"), ids=lambda p: str(p.relative_to(ROOT)))
def test_components_never_import_pages(path):
    assert not _imports(path) & {"app_pages", "pages"}


def test_pages_live_in_app_pages_not_in_streamlit_legacy_pages_folder():
    """A ``pages/`` folder next to the entry script switches Streamlit to its legacy
    multipage mode (a first visit to /history would run that page without the frame)."""
    assert not (ROOT / "pages").exists()
    assert _files("app_pages"), "no page files found under app_pages/"


@pytest.mark.parametrize("path", _files("app_pages"), ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_never_import_each_other(path):
    assert "app_pages" not in _imports(path)


@pytest.mark.parametrize("path", _files("app_pages") + _files("components") + [ROOT / "streamlit_app.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_heavy_libraries_stay_out_of_ui_module_top_level(path):
    assert not _imports(path, top_level_only=True) & {"pandas", "plotly", "boto3", "altair",
                                                       "matplotlib", "jupyter_client"}
