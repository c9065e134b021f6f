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

# After installing, scripts/check_torch.py checks that torch and torchvision are one build whose compiled ops load
# (torchvision.ops.nms); a mixed pair stops the build here with one line saying what to run instead. The project
# install is constrained to the torch/torchvision just installed, so it never swaps one of them for another build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
ifeq ($(TORCH),cpu)
	@$(BIN)/python scripts/check_torch.py --index $(TORCH_CPU_INDEX)
	PIP_CONFIG_FILE=/dev/null PIP_EXTRA_INDEX_URL= PIP_FIND_LINKS= \
	  $(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX)
else ifneq ($(TORCH),pypi)
	$(error TORCH must be cpu or pypi, not '$(TORCH)')
endif
	@$(BIN)/python -m pip freeze | grep -iE '^(torch|torchvision)==' > $(VENV)/torch-constraints.txt || true
	$(BIN)/python -m pip install -e '.[test]' -c $(VENV)/torch-constraints.txt
	@$(BIN)/python scripts/check_torch.py $(if $(filter cpu,$(TORCH)),--cpu)
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
