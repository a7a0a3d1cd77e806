# Two commands: `make run` and `make test`. Both create .venv when it is missing and install
# the locked versions (requirements.txt: runtime; requirements-dev.txt: everything CI installs),
# generated from pyproject.toml by `make lock`. `make test` runs `make lint` first.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run dev test test-unit test-app test-e2e bench lint lock clean
LINTED = agent_core components app_pages streamlit_app.py tests bench

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(PY) app_server.py --server.address 127.0.0.1 --server.port $(PORT)

# For developers: watch the app's own folders and rerun on save (`make run` watches nothing).
dev: $(VENV)/.dev
	$(PY) app_server.py --server.address 127.0.0.1 --server.port $(PORT) \
	  --server.fileWatcherType auto --server.runOnSave true \
	  --server.folderWatchBlacklist $(VENV) --server.folderWatchBlacklist test-artifacts \
	  --server.folderWatchBlacklist .git

lint: $(VENV)/.dev
	$(PY) -m ruff check $(LINTED)
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

test-unit: $(VENV)/.dev
	$(PY) -m pytest tests/unit

test-app: $(VENV)/.dev
	$(PY) -m pytest tests/app

test-e2e: $(VENV)/.dev
	$(PY) -m pytest tests/e2e

bench: $(VENV)/.dev
	status=0; for b in bench/[!_]*.py; do $(PY) $$b || status=1; done; exit $$status

# Re-pin after changing dependencies in pyproject.toml (needs PyPI).
lock: $(VENV)/.dev
	$(PY) -m uv pip compile pyproject.toml --python-version 3.11 \
	  --custom-compile-command "make lock" -q -o requirements.txt
	$(PY) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --custom-compile-command "make lock" -q -o requirements-dev.txt

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
