# The two commands of the README: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup demo test paper-dry-run clean-demo

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[test]'
	touch $@

setup: $(BIN)/.installed

# The offline synthetic study, end to end, on CPU: results/synthetic/
# (greedy scheduling: the default ILP solver's CPU time is felt among a hundred short jobs on 2 cores)
demo: setup
	$(BIN)/snakemake --cores $(CORES) --scheduler greedy --configfile presets/synthetic.yaml

test: setup
	$(BIN)/python -m pytest -v

# The paper's study as planned jobs, without data
paper-dry-run: setup
	$(BIN)/snakemake -n

clean-demo:
	rm -rf results/synthetic
