# Two commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test test-unit test-app test-e2e bench lint clean sample

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

test: $(VENV)/.dev
	$(PY) -m pytest

test-unit: $(VENV)/.dev
	$(PY) -m pytest tests/unit

test-app: $(VENV)/.dev
	$(PY) -m pytest tests/app

test-e2e: $(VENV)/.dev
	$(PY) -m pytest tests/e2e

bench: $(VENV)/.dev
	status=0; for b in bench/[!_]*.py; do $(PY) $$b || status=1; done; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
