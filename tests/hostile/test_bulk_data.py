"""Attack 2: bulk returned data ran the app out of memory (1,000 x 1 MB files took it from
37 MB to 1,038 MB; 400 display() images to 1,133 MB; output was truncated only after it was
fully buffered). Each run here goes the app's whole path (local agent -> stream parser ->
run store) in this process, whose RSS growth must stay under the stated bound."""
from __future__ import annotations

import pytest

from agent_core.backends.base import AgentRequest
from agent_core.backends.local import LocalAgent
from agent_core.events import CodeOutput, FileReturned, FinalResponse
from agent_core.interpreter.pool import KernelPool
from agent_core.store import RunStore
from tests.conftest import require_tool
from tests.unit.interpreter_helpers import kernel_processes, settings_for

BOUND_MB = 150  # the app process may grow by at most this much during one bulk run
STDOUT_BOUND_MB = 100  # a 200 MB print buffered whole took about 190 MB
PEAKS: dict[str, float] = {}


@pytest.fixture
def agent(tmp_path):
    require_tool("bwrap", "the kernel sandbox")
    settings = settings_for(tmp_path / "home", AGENT_DESK_MAX_KERNELS="2", AGENT_DESK_EXEC_TIMEOUT="300")
    pool = KernelPool(settings, warm_spare=False)
    agent = LocalAgent(settings, pool)
    pool.execute("bulk", "1")  # the kernel is up before the measured run
    yield agent, RunStore(tmp_path / "home")
    pool.shutdown()
    assert kernel_processes(pool.marker) == []


def _run(agent, code: str, memory_bound, name: str) -> tuple[int, int, str, str]:
    """Run ``code`` through the app's path; (files, file bytes, output, answer), events not kept."""
    backend, store = agent
    memory_bound.baseline = memory_bound.proc.memory_info().rss
    memory_bound.peak = memory_bound.baseline
    files = size = 0
    output = answer = ""
    request = AgentRequest(text=f"run this code: ```{code}```", session_id="bulk")
    with store.recording("bulk", request.text, "local") as rec:
        for event in backend.invoke(request):
            rec.add(event)
            if isinstance(event, FileReturned):
                files += 1
                size += event.file.size
            elif isinstance(event, CodeOutput):
                output = event.text
            elif isinstance(event, FinalResponse):
                answer = event.text
    PEAKS[name] = memory_bound.peak_growth_mb
    print(f"\n{name}: app process peak growth {memory_bound.peak_growth_mb:.0f} MB "
          f"(bound {memory_bound.growth_mb} MB)")
    return files, size, output, answer


@pytest.mark.memory_mb(BOUND_MB)
@pytest.mark.timeout(600)
def test_1000_files_of_1_mb(agent, memory_bound):
    code = "import os\nfor i in range(1000):\n    open(f'f{i:04d}.bin', 'wb').write(os.urandom(1 << 20))"
    files, size, output, answer = _run(agent, code, memory_bound, "1000 files")
    assert 0 < files <= 50 and size <= 25 * 2**20
    assert "not returned" in output + answer and "still in the working folder" in answer


@pytest.mark.memory_mb(BOUND_MB)
@pytest.mark.timeout(600)
def test_400_display_images(agent, memory_bound):
    code = ("import os\nfrom IPython.display import Image, display\n"
            "for i in range(400):\n"
            "    display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(900_000), format='png'))")
    files, size, output, answer = _run(agent, code, memory_bound, "400 images")
    assert 0 < files <= 20
    assert "image(s) were not returned" in answer


@pytest.mark.memory_mb(STDOUT_BOUND_MB)
@pytest.mark.timeout(600)
def test_200_mb_of_stdout(agent, memory_bound):
    code = "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * (1 << 20))\nprint('end')"
    files, size, output, answer = _run(agent, code, memory_bound, "200 MB stdout")
    assert len(output) < 1_100_000 and "output truncated" in output
