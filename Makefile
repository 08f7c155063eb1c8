# Two commands run everything (see README.md):
#   make course   set up (once, with the instructor tools) and open the course in JupyterLab
#   make test     set up (once, with the instructor and test tools, Chromium and the Colab replica) and
#                 run the whole test suite
# Both work on a fresh Debian/Ubuntu machine with Python ≥ 3.10; conda users see environment.yml.
# The Colab replica (scripts/colab_replica.py) is a second virtualenv holding Colab's versions of the
# notebook stack, cached in ~/.cache/introspecting-deep-networks by the hash of colab/pip-freeze.txt;
# every `make test` installs the current course into it the way the Colab set-up cell does.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: course test setup setup-test colab-replica lint clean

course: $(VENV)/.course-installed
	$(BIN)/jupyter lab lectures/00_introduction.ipynb

# pytest's exit code 5 means "no tests collected": that is a failure here, not a pass.
test: $(VENV)/.test-installed colab-replica
	@status=0; $(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

setup: $(VENV)/.course-installed
setup-test: $(VENV)/.test-installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.course-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[instructor]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[instructor,test]"
	bash scripts/install_debian_packages.sh
	touch $(VENV)/.course-installed $@

# Builds the replica once per Colab list, then (every time) checks with pip's dry run that the set-up
# cell would change none of Colab's packages and installs the course into it as that cell does.
colab-replica: | $(BIN)/python
	$(BIN)/python scripts/colab_replica.py build

lint: $(VENV)/.test-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
