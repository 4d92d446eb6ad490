# `make lab` sets everything up and opens JupyterLab on the examples; `make test` sets up and runs every test.
# Both are idempotent: each step leaves a stamp in .make/ and reruns only when its inputs change.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make
EXTRAS := torch,tensorflow,jax,mxnet,zoo,fast,dev
LAB_PORT ?= 8888
WIDGET_JS := kernel_helpers/paramscope/static/widget.js
LABEXT := kernel_helpers/paramscope/labextension
LABEXT_VENV := $(VENV)/share/jupyter/labextensions/paramscope
VSIX := extension/paramscope.vsix
# Run again on Keras' torch and JAX backends (the default run is Keras on TensorFlow).
KERAS_TESTS := tests/test_chapter.py tests/test_chapter_init.py tests/test_keras_adapter.py tests/test_keras_backends.py \
	tests/test_actions_undo.py tests/test_actions_property.py tests/test_actions_lifetime.py tests/test_keras_watch_threads.py \
	tests/test_keras_watch_grads.py tests/test_sizes.py tests/test_compare.py tests/test_stats.py

.PHONY: lab test setup test-py test-ts vsix test-vscode lint bench clean

setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/node $(WIDGET_JS) $(STAMPS)/labext

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
# `npm install`, not `npm ci`: the registry here lacks some optional per-platform builds (rollup, rspack) that
# the lock names, which `npm ci` refuses and `npm install` skips as the optional packages they are.
$(STAMPS)/node: package.json package-lock.json extension/package.json
	@mkdir -p $(STAMPS)
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund
	@touch $@

# The inline widget's bundle (build output inside the Python package, not in git).
$(WIDGET_JS): $(STAMPS)/node scripts/build-widget.mjs $(shell find src -path src/lab -prune -o -type f -print)
	npm run build:widget

# The prebuilt JupyterLab extension (build output, not in git; the wheel ships it, see pyproject.toml).
$(LABEXT)/package.json: $(STAMPS)/node scripts/build-lab.mjs scripts/i18n.mjs tsconfig.lab.json schema/plugin.json $(shell find src -type f)
	npm run build:lab

# Jupyter loads it from the venv's share/jupyter (where `pip install` puts it): refresh that copy after a build.
$(STAMPS)/labext: $(STAMPS)/venv $(LABEXT)/package.json
	rm -rf $(LABEXT_VENV) && mkdir -p $(LABEXT_VENV)
	cp -R $(LABEXT)/. src/lab/install.json $(LABEXT_VENV)/
	@touch $@

# The VS Code extension, packaged with @vscode/vsce (it bundles the shared tree component for its webview, and its
# build writes the l10n bundles from src/i18n with scripts/i18n.mjs).
$(VSIX): $(STAMPS)/node extension/package.json $(wildcard extension/package.nls*.json) extension/.vscodeignore extension/scripts/build.mjs scripts/i18n.mjs $(shell find extension/src extension/webview extension/resources src -path src/lab -prune -o -type f -print)
	npm run vsix -w extension

vsix: $(VSIX)

# What code-server's native modules build against, and the ripgrep it bundles (Debian's, not a download).
$(STAMPS)/apt-vscode:
	@mkdir -p $(STAMPS)
	@if ! dpkg -s libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep; \
	fi
	@touch $@

# VS Code in the browser (npm code-server) for the extension's UI test: about 3 minutes once, then kept in .make/.
$(STAMPS)/code-server.done: extension/scripts/install-code-server.sh $(STAMPS)/apt-vscode
	bash extension/scripts/install-code-server.sh $(STAMPS)/code-server
	@touch $@

# Jupyter refuses to run as root unless told; on a machine where you are root (a container), tell it.
lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --notebook-dir=examples \
		$(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	$(MAKE) lint
	$(MAKE) test-ts
	$(MAKE) test-py
	$(MAKE) test-vscode

test-ts:
	npm run test:ts

test-py:
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q
	@# Keras' other backends, each in its own process (a kernel cannot switch backends): the Keras tests only.
	KERAS_BACKEND=torch TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q $(KERAS_TESTS) -k keras
	KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q $(KERAS_TESTS) -k keras

# Unit tests of the extension against typed fakes of the vscode and Jupyter APIs, then the .vsix in code-server.
test-vscode: $(VSIX) $(STAMPS)/code-server.done
	npm test -w extension
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q extension/test/ui

# Benchmarks against peers (torchinfo, treescope, Keras' and Gluon's summaries, repr); writes bench/results_*.md.
bench: setup
	$(PY) -m pip install -q torchinfo==1.8.0 treescope==0.1.10
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_torch.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_keras.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_mxnet.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_stats.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_listing.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_watch.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_undo.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_search.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_compare.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/bench_sizes.py
	$(PY) bench/bench_distributed.py

lint: setup
	$(VENV)/bin/ruff check kernel_helpers tests bench extension/test
	$(VENV)/bin/mypy

clean:
	rm -rf $(STAMPS) $(VENV) node_modules
