# Waypoint: `make run` starts the server on examples/ with SQLite; `make test` runs the tests;
# `make install` builds the development environment (server + test tools) in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8123
HOST ?= 127.0.0.1

.PHONY: install run test fuzz bench bench-quick clean

# Two installs in one venv, each with its own stamp: `make run` installs only the server
# (`.`), `make test` the server and the test tools (`.[dev]`).
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-server: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed-dev

run: $(VENV)/.installed-server
	$(VENV)/bin/waypoint serve --config examples/langgraph.json --host $(HOST) --port $(PORT) $(SERVE_ARGS)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Schemathesis against /openapi.json on each test backend, bounded per operation and in
# time; reports in test-output/fuzz-<backend>.txt (docs/fuzz.md records the last run).
FUZZ_EXAMPLES ?= 100
FUZZ_SECONDS ?= 600
FUZZ_SEED ?= random
fuzz: install
	WAYPOINT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) WAYPOINT_FUZZ_SECONDS=$(FUZZ_SECONDS) WAYPOINT_FUZZ_SEED=$(FUZZ_SEED) \
		$(PY) -m pytest -q tests/test_fuzz.py $(PYTEST_ARGS)

BENCH_VENV := bench/.venv-bench

$(BENCH_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Benchmarks against `langgraph dev`, langhost, Aegra (each peer in its own venv pinned by
# bench/constraints-<peer>.txt, built by bench/run.py on first use, as their pins clash with
# ours; one that fails to install or start is skipped with the reason)
# and the in-process floor; writes bench/RESULTS.md. BENCH_ARGS: e.g. --rounds 2 --concurrency 1,10,50
# PostgreSQL and Redis come from Debian's packages when missing (.ci/system-packages).
bench: $(BENCH_VENV)/.installed
	.ci/system-packages redis-server postgresql
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

# Regression check (not a timed test): a tiny run of Waypoint and the floor, printing each
# figure's ratio to the floor.
bench-quick: $(BENCH_VENV)/.installed
	.ci/system-packages redis-server postgresql
	$(BENCH_VENV)/bin/python bench/run.py --quick --systems inprocess,inprocess-postgres,waypoint-sqlite,waypoint-postgres \
		--out test-output/bench/RESULTS.md $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) bench/.venv-langgraph-dev bench/.venv-langhost bench/.venv-aegra examples/.waypoint test-output tests/js/node_modules
