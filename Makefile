# Two commands do everything:  `make study`  (the main job)  and  `make test`  (the test suite).
# Each creates or refreshes .venv from this project's own files when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.isnet-installed
PROFILE ?= smoke
PYTEST_ARGS ?=

.PHONY: study test test-all bench venv clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

study: $(STAMP)
	$(BIN)/isnet study --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/isnet bench model

clean-venv:
	rm -rf $(VENV)
