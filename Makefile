# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/alm-batch demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 4 --durations=15

# Style, formatting, strict types and the layer contracts (pyproject.toml [tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check batch tests bench
	$(BIN)/ruff format --check batch tests bench
	$(BIN)/mypy batch
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider bench/soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
