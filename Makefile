# Two entry points that work on a fresh machine; each makes its own virtual environment.
#   make demo   trains the best model per minute (conv-bn-fast) on MNIST and prints its report's path
#   make test   runs the test suite
PYTHON ?= python3
VENV := .venv
# The real datasets sit in ../shared/data on this project's machines; elsewhere
# nophd looks in $NOPHD_DATA, then its cache, then downloads.
SHARED_DATA := $(abspath ../shared/data)
export NOPHD_DATA ?= $(if $(wildcard $(SHARED_DATA)/mnist),$(SHARED_DATA),)

.PHONY: demo test ladder benchmark clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[cpu,test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/nophd data mnist
	$(VENV)/bin/nophd train mnist --model conv-bn-fast --resume

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

ladder: $(VENV)/.installed
	$(VENV)/bin/nophd ladder mnist --out runs/ladder

benchmark: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/mnist_time_to_accuracy.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
