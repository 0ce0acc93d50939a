# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)  ## fine-tune FCN-4 end to end on a synthetic GTZAN-layout corpus, offline; tag two clips
	$(BIN)/python -m finetune.demo

test: $(STAMP)  ## the test suite (CI runs this), on two workers: much of it waits on processes
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: $(STAMP)  ## performance figures; targets live here, never in tests
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
