# One task runner for people and CI. `make demo` and `make test` work on a fresh machine:
# they create .venv/ and install the kit first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_MNIST := ../shared/data/mnist

# Use the canonical MNIST folder beside the repository when it is there.
ifneq ($(wildcard $(SHARED_MNIST)/train-images-idx3-ubyte*),)
export MNIST_DATA ?= $(abspath $(SHARED_MNIST))
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Two test processes, each test module whole in one of them (its module fixtures, such as
# a graded nbgrader course, are built once).
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: install demo test test-fast lint format bench notebook student-package clean

$(BIN)/.installed: pyproject.toml
	@echo "==> Creating $(VENV)/ and installing the kit (first time: about 2-3 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

demo: install  ## the main job: train, evaluate and plot the reference pipeline into report/
	$(BIN)/python -m reference --output report

test: install lint  ## the whole test suite, full-data trainings included (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-fast: install  ## everything but the full-data trainings and the real-browser test
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## timing tables: the reference models, the solved notebook, class-scale grading
	$(BIN)/python bench/reference.py
	$(BIN)/python bench/notebook.py
	$(BIN)/python bench/grading.py

notebook: install  ## regenerate every source notebook from reference/ and course.yaml
	$(BIN)/python -m authoring

student-package: install  ## the wheel students install: autograder + course.yaml, no reference/
	$(BIN)/python -m authoring.student_package

clean:
	rm -rf report dist .pytest_cache .ruff_cache
