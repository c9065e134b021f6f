# Two commands do everything:  `make study`  (the main job)  and  `make test`  (the test suite).
# Each creates or refreshes .venv from this project's own files when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.isnet-installed
PROFILE ?= smoke
PYTEST_ARGS ?=
# TORCH=cpu installs PyTorch's CPU build (≈ 0.2 GB instead of several GB of CUDA libraries) before the project,
# from PyTorch's CPU index; TORCH=pypi (default) takes whatever PyPI gives. An existing .venv is kept: to switch,
# `make clean-venv` first, e.g.  make clean-venv study TORCH=cpu
TORCH ?= pypi
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: study test test-all bench venv clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
ifeq ($(TORCH),cpu)
	$(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX)
else ifneq ($(TORCH),pypi)
	$(error TORCH must be cpu or pypi, not '$(TORCH)')
endif
	$(BIN)/python -m pip install -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

study: $(STAMP)
	$(BIN)/isnet study --profile $(PROFILE) $(STUDY_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/isnet bench model

clean-venv:
	rm -rf $(VENV)
