"""The read code each profile renders, run in a REAL Jupyter kernel (the local code
interpreter, as the agent and an exported notebook run it), yields exactly the frame the
reader gave the Upload page."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from agent_core.files import AttachedFile
from agent_core.interpreter.pool import KernelPool
from agent_core.tables import read_table
from tests.unit.interpreter_helpers import settings_for
from tests.unit.table_corpus import FILES


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    p = KernelPool(settings_for(tmp_path_factory.mktemp("tables-home"), AGENT_DESK_SANDBOX="none"),
                   warm_spare=False)
    yield p
    p.shutdown()


@pytest.mark.timeout(300)
def test_rendered_read_code_gives_the_readers_frame_in_a_real_kernel(pool):
    checked = []
    for i, path in enumerate(FILES):
        data = path.read_bytes()
        result = read_table(path.name, data)
        assert result.ok, (path.name, result.profile.error)
        (name,) = pool.put_files("tables", [AttachedFile.from_bytes(path.name, data)])
        code = result.profile.code_for(name)
        assert "agent_core" not in code and code.startswith("import pandas as pd")
        run = pool.execute("tables", code + f"\ndf.to_pickle('frame_{i}.pkl')\nprint(len(df))", timeout=120)
        assert run.error is None, (path.name, run.error and run.error.traceback)
        pickled = next(f for f in run.files if f.name == f"frame_{i}.pkl")
        got = pd.read_pickle(io.BytesIO(pickled.data))
        pd.testing.assert_frame_equal(got, result.frame, check_exact=True, obj=path.name)
        checked.append(path.name)
    assert len(checked) == len(FILES) >= 20
