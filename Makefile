# The README's first two commands: `make run` and `make test`. Both do all set-up first.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes for make test (pytest-xdist). Three on a two-core machine: most tests wait on
# timers and peers, and two processes left the cores about half idle (the whole make test took
# 1,005 s with three, 1,179 s with two and fewer tests). Tests that need something the machine
# has once (the demo's default ports; pcscd where no mount namespace can give each process its
# own) take turns on a lock file.
PYTEST_WORKERS ?= 3

.PHONY: setup run test lint unit explore bench soak hil clean

setup:
	@scripts/setup.sh

run: setup
	@scripts/demo.sh

lint: setup
	$(BIN)/ruff check edge_controller tests bench hil
	$(BIN)/ruff format --check edge_controller tests bench hil
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The property tests with new examples each run (1,000 where a test sets no count of its own).
explore: setup
	HYPOTHESIS_PROFILE=explore $(BIN)/pytest -n $(PYTEST_WORKERS) $$(grep -rl "@given" tests)

bench: setup
	$(BIN)/python -m bench

# The randomized crash soaks, then the daemon's soak: a generated site with OCPP and MQTT for
# SOAK_MINUTES (60; SOAK_MINUTES=5 for the short mode), flat RSS, files, backlog and database
# (bench/results/soak.json).
soak: setup
	EDGE_CONTROLLER_SOAK=1 $(BIN)/pytest -m soak $(PYTEST_ARGS)
	$(BIN)/python -m bench.soak

# The device contract suite against a real bench: make hil BENCH=hil/bench.yaml
# (JUnit XML and a Markdown report in hil/results/).
BENCH ?=
hil: setup
	EDGE_CONTROLLER_BENCH=$(BENCH) $(BIN)/pytest hil $(PYTEST_ARGS) \
		--junitxml=hil/results/junit.xml --hil-report=hil/results/report.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
