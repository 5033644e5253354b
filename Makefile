# helpdesk-bot: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check -q

.PHONY: demo test install install-dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

install: $(BIN)/python
	$(PIP) install -e .

install-dev: $(BIN)/python
	$(PIP) install -e '.[dev]'

## Sync the bundled sample knowledge base into the embedded store and answer sample questions.
demo: install
	$(BIN)/helpdesk-bot demo

## Install the dev extras, check the import layers (pyproject's [tool.importlinter]) and run the whole test suite.
test: install-dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check bot connectors tests benchmarks

## Benchmarks (slow; each prints one JSON line). Needs ../shared/eval for retrieval_quality.
bench: install
	$(BIN)/python benchmarks/retrieval_quality.py
	$(BIN)/python benchmarks/answer_latency.py --chunks 10000
	$(BIN)/python benchmarks/answer_latency.py --chunks 100000
	$(BIN)/python benchmarks/ingest_throughput.py

clean:
	rm -rf $(VENV) data .pytest_cache
