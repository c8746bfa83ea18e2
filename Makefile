# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SAMPLE := src/corpusfilter/resources/sample/web_sample.parquet
DEMO_OUT ?= demo-out

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# The test suite covers the Ray engine too, so it installs the ray extra.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,ray]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/corpusfilter run default $(SAMPLE) -o $(DEMO_OUT) --overwrite --no-progress --score-all -q
	$(BIN)/corpusfilter verify $(DEMO_OUT)
	$(BIN)/corpusfilter report $(DEMO_OUT) --html $(DEMO_OUT)/report.html --json $(DEMO_OUT)/report.json

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install -q -e ".[bench]"
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache build dist
