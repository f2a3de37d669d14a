# Every target creates/reuses .venv. torch==2.13.0 goes first: on these machines it is the CPU
# wheel on local disk, while a plain `torch` requirement would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.srd-installed
PLUGIN_DISTS := $(wildcard plugins/*/pyproject.toml)

.PHONY: demo experiment test bench lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml $(PLUGIN_DISTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools>=68" wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

# One torch thread: the demo's models are tiny, and two threads per process lose badly to
# oversubscription whenever anything else runs on a 2-core machine.
demo: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/srd run examples/demo.yaml

# SRD vs plain KD on the embedded default (four arms), 5 seeds, two runs at a time (each with one of the two threads);
# resumable: rerun after an interrupt. Tables for docs/results.md: srd experiment --table runs/experiments/srd-vs-kd
JOBS ?= 2
experiment: $(STAMP)
	OMP_NUM_THREADS=$(JOBS) $(VENV)/bin/srd experiment examples/experiments/srd-vs-kd.yaml --jobs $(JOBS)

# One pytest worker per core (pytest-xdist), each test file on one worker (its module fixtures built once).
# TEST_JOBS=0 runs the suite in this process.
TEST_JOBS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile tests $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
