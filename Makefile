# make demo: the whole loop offline on an embedded default (creates .venv if missing).
# make test: every test (creates .venv if missing). Both share `make setup`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= tabular,tune,kaggle,report,templates,vision,nlp,recsys,dev
STAMP := $(VENV)/.kk-installed-$(shell echo '$(EXTRAS)' | tr ',' '-')

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

demo: setup
	$(BIN)/kk demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/pre-commit run --all-files

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
