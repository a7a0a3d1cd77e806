"""The pandas code that reads one file: rendered for people (and the agent's kernel), and run
by the reader itself, so the Upload page, the agent and an exported notebook get one frame.

A :class:`Steps` collects tidy statements on ``df`` (each one line of plain pandas, every
name from the file written as a literal). :func:`run` executes them on the frame the read
call produced; :func:`render` prints the read call and the same statements.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_core.tables.profile import ReadOptions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def lit(value: Any) -> str:
    """A Python literal for generated code (strings in double quotes, never code)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


@dataclass
class Steps:
    """Tidy statements, each with a comment that says why."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, code: str, why: str = "") -> None:
        self.lines.append((code, why))


def read_call(opts: ReadOptions, path: str) -> str:
    args = "".join(f", {k}={lit(v)}" for k, v in opts.kwargs)
    return f"df = pd.{opts.function}({lit(path)}{args})"


def render(opts: ReadOptions, steps: Steps, path: str) -> str:
    body = ["import pandas as pd", "", read_call(opts, path)]
    for code, why in steps.lines:
        body.append(f"{code}  # {why}" if why else code)
    return "\n".join(body) + "\n"


def run(frame: pd.DataFrame, steps: Steps, deadline: Any = None, start: int = 0) -> pd.DataFrame:
    """Run the tidy statements (from number ``start`` on) on ``frame`` and return ``df``."""
    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {"pd": pd, "np": np, "df": frame}
    for code, _ in steps.lines[start:]:
        exec(compile(code, "<tidy>", "exec"), namespace)  # noqa: S102 - our own literal-only code
        if deadline is not None:
            deadline.check("tidying the table")
    return namespace["df"]


def call(opts: ReadOptions, data: bytes) -> pd.DataFrame:
    """The read call on bytes (what ``read_call`` does on the file)."""
    import pandas as pd

    return getattr(pd, opts.function)(io.BytesIO(data), **dict(opts.kwargs))
