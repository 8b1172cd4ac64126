# Each target sets itself up from a fresh clone: the first run creates .venv and installs threadloom.
# `demo` and `dev` install threadloom alone; `test`, `lint` and `bench` add the test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test lint bench dev clean

$(BIN)/python:
	@echo "make: creating $(VENV) with $(PYTHON) …"
	$(PYTHON) -m venv $(VENV)

$(BASE_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing threadloom and its dependencies into $(VENV) (first run only) …"
	$(PIP) install --progress-bar off -e .
	@touch $(BASE_STAMP)
	@echo "make: $(VENV) is ready; activate it (. $(VENV)/bin/activate) to run threadloom and temporal"

$(TEST_STAMP): $(BASE_STAMP)
	@echo "make: installing the test extras (pytest, openai, playwright, ruff, mypy, …) …"
	$(PIP) install --progress-bar off -e '.[test]'
	@touch $(TEST_STAMP)

demo: $(BASE_STAMP)
	$(BIN)/threadloom demo

dev: $(BASE_STAMP)
	$(BIN)/threadloom dev

# pytest exits 5 when it collected no tests; that is reported, not failed. The tests run in
# TEST_WORKERS processes (pytest-xdist), a test file per process at a time: most of a test's time is
# spent waiting on servers, so two processes share two cores well.
TEST_WORKERS ?= 2
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p threadloom

# The full benchmark (several minutes): its own dev server, threads server and worker on free ports.
bench: $(TEST_STAMP)
	$(BIN)/threadloom bench --run-ms 0,2000,500..3000,8000 --turns 40 --concurrency 20 \
		--throughput 1,50,200 --throughput-turns 400 --in-flight 1000 --in-flight-run-ms 5000 \
		--profile 10 --crash 40 --crash-kills 3

clean:
	rm -rf $(VENV) .threadloom .pytest_cache .mypy_cache .ruff_cache
