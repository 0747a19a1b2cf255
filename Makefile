# Datacoin: `make demo` runs the main job, `make test` runs every check.
# Works on a fresh Debian machine with Python 3.11 and Node 20: installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TF_STAMP := $(VENV)/.tensorflow
#: pytest processes for `make test` (tests mostly wait on anvil, PostgreSQL and chromium).
PYTEST_WORKERS ?= 2

.PHONY: install web services browser contracts openapi screenshots demo test lint typecheck pytest clean locks

install: $(STAMP) $(TF_STAMP) node_modules/.package-lock.json web

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -m venv $(VENV) || (apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	$(VENV)/bin/pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	@# torch: the CPU wheel pip finds on this platform's disk (uv would resolve a CUDA build)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(PY) -m compileall -q $(VENV)/lib/python3.11/site-packages/torch > /dev/null || true
	@touch $(STAMP)

# TensorFlow (Keras 3, CPU build) for the training workers: pip-installed beside the lock,
# as torch is, from the exact pins in requirements-tensorflow.txt, so the API's and the
# indexer's lock stays TensorFlow-free. Its own stamp: a change of the lock does not
# reinstall it (pip finds it satisfied), and a new pin does not rebuild the venv.
$(TF_STAMP): $(STAMP) requirements-tensorflow.txt
	$(VENV)/bin/pip install -q -r requirements-tensorflow.txt
	@touch $(TF_STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The dApp (web/): npm ci + `next build` (a static export to web/out, served by
# `datacoin serve` at /), skipped while the hash of web/'s sources and lock is unchanged.
# Offline: no web fonts, telemetry off.
WEB_SOURCES = cd web && find src public next.config.mjs tsconfig.json package.json package-lock.json -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-32
WEB_STAMP := web/out/.source-hash

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web: web/node_modules/.package-lock.json
	@hash=$$($(WEB_SOURCES)); \
	if [ "$$(cat $(WEB_STAMP) 2>/dev/null)" = "$$hash" ]; then echo "web: unchanged ($$hash), build skipped"; \
	else cd web && NEXT_TELEMETRY_DISABLED=1 npx next build && echo "$$hash" > out/.source-hash; fi

services:
	@bash ops/ensure-services.sh
	@bash ops/install-sandbox.sh

# tests/web drive Debian's chromium through Playwright (never `playwright install`: its
# browser download cannot work here). Without chromium they skip, except in CI, where they fail.
browser:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null || echo "browser: no chromium (and no apt-get): tests/web skip" >&2

contracts: install
	$(PY) -m contracts.compile
	$(PY) -m contracts.codegen

# requirements.lock: everything (dev included); requirements.runtime.lock: what the images
# install, the same versions without the dev extra (tests/ops/test_images.py checks both).
locks:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11
	$(VENV)/bin/uv pip compile pyproject.toml -c requirements.lock -o requirements.runtime.lock \
	  --python-version 3.11 --annotation-style line

openapi: install
	$(PY) -m api.openapi_document

# The README's pictures, taken by tests/web/test_screenshots.py on the real stack.
screenshots: install services browser
	$(PY) -m pytest -q tests/web/test_screenshots.py
	mkdir -p docs/screenshots && cp test-artifacts/web/screenshots/*.png docs/screenshots/

demo: install
	@bash ops/install-sandbox.sh
	$(VENV)/bin/datacoin demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

pytest: install services browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

clean:
	rm -rf $(VENV) node_modules web/node_modules web/.next web/out var test-artifacts .mypy_cache .ruff_cache .pytest_cache
