# make demo: the whole loop offline on an embedded default (creates .venv if missing).
# make test: every test (creates .venv if missing). Both share `make setup`.
PYTHON ?= python3
# pipefail: a failing pip install fails the target even though its output is filtered.
SHELL := bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= tabular,tune,kaggle,report,templates,vision,nlp,recsys,dev
# The demo trains LightGBM and a linear model on a table: the core and the tabular extra
# (about 1.1 GB with its dependencies, against about 7 GB for every extra with CUDA torch).
DEMO_EXTRAS ?= tabular
STAMP := $(VENV)/.kk-installed-$(shell echo '$(EXTRAS)' | tr ',' '-')

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing kagglekit[$(EXTRAS)] into $(VENV) (pip's own lines follow; sizes per extra: docs/reference.md, Install)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[$(EXTRAS)]' \
	  | { grep -v '^Requirement already satisfied' || true; }
	@touch $@

# Only what the demo needs; `make test` (or `make setup`) adds every other extra.
demo:
	@$(MAKE) --no-print-directory setup EXTRAS=$(DEMO_EXTRAS)
	$(BIN)/kk demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/pre-commit run --all-files

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
