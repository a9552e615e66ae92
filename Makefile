# Two commands from a fresh clone: `make train` and `make test`. Both create .venv when missing.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: train test test-slow bench gpu-check clean-venv

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

train: $(VENV)/.installed
	$(PY) train.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest $(ARGS)

test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow $(ARGS)

bench: $(VENV)/.installed
	$(PY) scripts/bench.py $(ARGS)

# Every CUDA figure in one command, at most ~8 minutes on one GPU, no network (scripts/gpu_check.py, docs/speed.md):
# `make gpu-check` on a GPU machine, `make gpu-check ARGS=--dry` on any (the same stages on the CPU, tiny sizes).
# Another interpreter where reslab is installed: `make gpu-check PY=python3` (no .venv made then).
gpu-check: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/.installed)
	$(PY) scripts/gpu_check.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
