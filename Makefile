# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
ifeq (, $(shell command -v $(PYTHON) 2>/dev/null))
PYTHON := python3
endif
VENV := .venv
BIN := $(VENV)/bin
# setuptools flags two of this project's deliberate choices on every install: ext-modules declared in
# pyproject.toml (still marked experimental there; the alternative is a setup.py) and an editable install
# (what `make` wants: edits to memtech/, plugins/ and conf/ take effect without reinstalling). Neither is a
# problem to act on, so the install stays quiet about them; every other warning still shows.
QUIET_SETUPTOOLS := PYTHONWARNINGS="ignore:\`[tool.setuptools.ext-modules]\` in:Warning,ignore:Editable installation:Warning"

.PHONY: run test install install-dev bench readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-install when pyproject.toml or the compiled module's source changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml memtech/_fastpath.c
	$(QUIET_SETUPTOOLS) $(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml memtech/_fastpath.c
	$(QUIET_SETUPTOOLS) $(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/memtech-run $(ARGS)
	@echo "memtech-run and memtech are in $(BIN)/: run \`source $(BIN)/activate\` to use them by name"

test: install-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python benchmarks/run_all.py

readme: install  # the outputs the README shows, regenerated from the current code
	$(BIN)/python .ci/readme_outputs.py

clean:
	rm -rf $(VENV) build dist *.egg-info
