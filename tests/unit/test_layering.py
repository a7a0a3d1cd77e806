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


def _modules(path: Path) -> set[str]:
    """Every module ``path`` imports, with its full dotted name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _calls(path: Path) -> set[str]:
    """The attribute or function names called in ``path`` (``x.invoke()`` -> ``invoke``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            out.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return out


@pytest.mark.parametrize("path", _files("app_pages"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_reaches_a_backend(path):
    """Pages never import a backend or call ``invoke``: a run goes through agent_core.run."""
    assert not {m for m in _modules(path) if m.startswith("agent_core.backends")}
    assert "invoke" not in _calls(path)


RUNNERS = ["app_pages/analysis.py", "app_pages/synthetic_data.py", "components/code_editor.py",
           "agent_core/cli.py"]


@pytest.mark.parametrize("name", RUNNERS)
def test_every_run_starts_in_agent_core_run(name):
    """The pages, the code editor and the CLI start their runs with agent_core.run.start
    (which records them); none of them calls a backend's invoke or the store's writers."""
    path = ROOT / name
    assert "agent_core.run" in _modules(path) or "agent_core.run" in {
        m.rsplit(".", 1)[0] for m in _modules(path)}
    calls = _calls(path)
    assert "start" in calls
    assert not calls & {"invoke", "start_run", "append_event", "finish_run", "recording"}


def test_only_the_run_path_and_the_store_write_runs():
    writers = {p.relative_to(ROOT).as_posix() for p in _files("agent_core") + _files("components")
               + _files("app_pages") if _calls(p) & {"start_run", "append_event", "finish_run",
                                                      "recording"}}
    assert writers <= {"agent_core/run.py", "agent_core/store/runstore.py", "agent_core/store/recorder.py"}, writers
