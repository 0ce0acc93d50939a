# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test quick docs bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)  ## fine-tune FCN-4 end to end on a synthetic GTZAN-layout corpus, offline; tag two clips
	$(BIN)/python -m finetune.demo

# With bytecode written (whatever PYTHONDONTWRITEBYTECODE says): the two workers and every process a test
# starts would otherwise compile the package, and pytest rewrite the tests' asserts, each time afresh.
test: $(STAMP)  ## the test suite (CI runs this), on two workers (three ran slower); its 20 slowest tests named
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20

quick: $(STAMP)  ## the quick loop while developing: the tests not marked slow (under 90 s on 2 cores)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

$(DOCS_STAMP): $(STAMP) setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $@

docs: $(DOCS_STAMP)  ## the manual (docs/) as a site in site/; any warning fails the build
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

bench: $(STAMP)  ## performance figures; targets live here, never in tests
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache site
