# The two entry points of the README: `make demo` and `make test`.
# Both create the virtual environment and install the project on first use.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
INSTALLED = $(VENV)/.installed

.PHONY: demo test install clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/payplan demo

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) payplan-demo.db .pytest_cache
