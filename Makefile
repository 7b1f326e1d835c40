# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU machines/CI get the local CPU wheel; on a GPU pod the same pin resolves to the CUDA build.
TORCH_SPEC ?= torch==2.13.0
CORES ?= all

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

.PHONY: setup demo test test-all lint
setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES)

test: setup
	$(VENV)/bin/python -m pytest -m "not slow" -q

test-all: setup
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/snakemake --lint
