# Two commands from a fresh clone: `make train` and `make test`. Both create .venv when missing.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: train test test-slow bench clean-venv

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

clean-venv:
	rm -rf $(VENV)
