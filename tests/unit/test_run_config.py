"""`make run` is for people: an idle server watches no files (no CPU, no inotify flood);
`make dev` keeps run-on-save for developers."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_config_turns_the_file_watcher_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"].get("runOnSave", False) is False


def test_streamlit_reads_the_watcher_off_from_the_run_configuration(tmp_path):
    """What Streamlit itself resolves when started from the project folder, as `make run` does."""
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('server.fileWatcherType'), config.get_option('server.runOnSave'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["none", "False"]


def _make_n(target: str) -> str:
    venv = str(Path(sys.executable).parents[1])
    out = subprocess.run(["make", "-n", target, "VENV=" + venv], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_run_has_no_watcher_and_make_dev_has_one():
    assert "fileWatcherType" not in _make_n("run")  # `make run` takes the config's "none"
    dev = _make_n("dev")
    assert "--server.fileWatcherType auto" in dev and "--server.runOnSave true" in dev
