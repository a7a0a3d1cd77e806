"""The command line's ``ask`` of the seed chart against ``python chart.py``.

TARGET: ``python -m agent_core ask SEED --file sample_prices.csv --out DIR`` (local
        backend: planner, one sandboxed kernel, the chart, files saved, exit)
        <= 2x ``python chart.py``, the same chart code the planner writes, on the same file.

Both are fresh processes timed from start to exit, taking turns, median of the same repeats.

    .venv/bin/python bench/cli.py        (BENCH_REPEAT=N to change the repeats)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import ROOT, SAMPLE, SEED, Result, interleaved_medians, repeats, report

from agent_core.files import AttachedFile
from agent_core.planner import plan_request

TARGET = 2.0


def main() -> int:
    n = repeats(5)
    code = plan_request(SEED, [AttachedFile.from_bytes(SAMPLE.name, SAMPLE.read_bytes())]).code
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "chart.py").write_text(code)
        (work / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_"))}
        env.update(AGENT_BACKEND="local", AGENT_DESK_HOME=str(work / "home"))

        def ask() -> None:
            done = subprocess.run([sys.executable, "-m", "agent_core", "ask", SEED, "--file", SAMPLE.name,
                                   "--out", "out"], cwd=work, env={**env, "PYTHONPATH": str(ROOT)},
                                  capture_output=True, text=True)
            assert done.returncode == 0 and (work / "out" / "moving_average.png").exists(), done.stderr

        def script() -> None:
            subprocess.run([sys.executable, "chart.py"], cwd=work, check=True, capture_output=True)

        ask()  # first use builds matplotlib's font cache for the kernels
        script()
        cli, base = interleaved_medians(n, ask, script)
    return report("CLI ask of the seed chart vs python chart.py", [
        Result("python -m agent_core ask / python chart.py", cli / base, TARGET),
    ], notes=[f"ask (local backend): {cli * 1000:.0f} ms (median of {n})",
              f"python chart.py: {base * 1000:.0f} ms"])


if __name__ == "__main__":
    sys.exit(main())
