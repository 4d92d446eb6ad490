# `make lab` sets everything up and opens JupyterLab on the examples; `make test` sets up and runs every test.
# Both are idempotent: each step leaves a stamp in .make/ and reruns only when its inputs change.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make
EXTRAS := torch,tensorflow,mxnet,dev
LAB_PORT ?= 8888

.PHONY: lab test setup test-py lint clean

setup: $(STAMPS)/apt $(STAMPS)/venv

# Debian's Chromium drives the browser tests (test tools cannot download their own browser here).
$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi
	@touch $@

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --notebook-dir=examples

test: setup
	$(MAKE) test-py

test-py:
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check kernel_helpers tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(STAMPS) $(VENV) node_modules
