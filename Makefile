# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   trains MATLAB's digit-classification example and prints its accuracy
#   make test   runs the whole test suite, in one pytest-xdist worker per core (tests/conftest.py)
# The install skips byte-compiling the packages (--no-compile): Python compiles the modules
# a process imports, a small part of torch, ray and onnx, when it first imports them.
# make bench runs the whole-network benchmark, the kernel, datastore and parallel ones; each writes its
# section of docs/benchmarks.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench docs clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/simple_cnn_digits.py

test: $(VENV)/.installed
	$(PY) -m pytest -n auto

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[bench]"
	$(PY) benchmarks/network.py
	$(PY) benchmarks/batchnorm.py
	$(PY) benchmarks/datastore.py
	$(PY) benchmarks/parallel_ceiling.py
	$(PY) benchmarks/parallel.py

docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build site *.egg-info
