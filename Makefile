# `make lab` sets everything up and opens JupyterLab on the examples; `make test` sets up and runs every test.
# Both are idempotent: each step leaves a stamp in .make/ and reruns only when its inputs change.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make
EXTRAS := torch,tensorflow,mxnet,dev
LAB_PORT ?= 8888
WIDGET_JS := kernel_helpers/paramscope/static/widget.js

.PHONY: lab test setup test-py test-ts lint bench clean

setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/node $(WIDGET_JS)

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

# Node packages for the front ends, as package-lock.json pins them (no browser downloads: tests use Debian's).
$(STAMPS)/node: package-lock.json
	@mkdir -p $(STAMPS)
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

# The inline widget's bundle (build output inside the Python package, not in git).
$(WIDGET_JS): $(STAMPS)/node scripts/build-widget.mjs $(shell find src -path src/lab -prune -o -type f -print)
	npm run build:widget

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --notebook-dir=examples

test: setup
	$(MAKE) test-ts
	$(MAKE) test-py

test-ts:
	npm run test:ts

test-py:
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q

# Benchmarks against peers (torchinfo, treescope, repr); writes bench/results_*.md.
bench: setup
	$(PY) -m pip install -q torchinfo==1.8.0 treescope==0.1.10
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_torch.py

lint: setup
	$(VENV)/bin/ruff check kernel_helpers tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(STAMPS) $(VENV) node_modules
