# The README's first two commands: `make run` and `make test`. Both do all set-up first.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup run test lint unit bench soak clean

setup:
	@scripts/setup.sh

run: setup
	@scripts/demo.sh

lint: setup
	$(BIN)/ruff check edge_controller tests bench
	$(BIN)/ruff format --check edge_controller tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench

soak: setup
	EDGE_CONTROLLER_SOAK=1 $(BIN)/pytest -m soak $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
