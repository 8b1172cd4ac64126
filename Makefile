# Each target sets itself up from a fresh clone: the first run creates .venv and installs threadloom.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench dev clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/threadloom demo

dev: $(STAMP)
	$(BIN)/threadloom dev

# pytest exits 5 when it collected no tests; that is reported, not failed.
test: $(STAMP)
	$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy threads_client workflows activities

# The full benchmark (several minutes): its own dev server, threads server and worker on free ports.
bench: $(STAMP)
	$(BIN)/threadloom bench --run-ms 0,2000,500..3000,8000 --turns 40 --concurrency 20 \
		--throughput 1,50,200 --throughput-turns 400 --in-flight 1000 --in-flight-run-ms 5000 \
		--profile 10 --crash 40 --crash-kills 3

clean:
	rm -rf $(VENV) .threadloom .pytest_cache .mypy_cache .ruff_cache
