# Set-up and the two everyday commands. `make run` serves the web chat on docs_corpus/,
# building the index first if needed; `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
# The CPU build of torch must be installed before sentence-transformers, or pip fetches
# a multi-GB CUDA build. Override TORCH_SPEC (e.g. with an --index-url) elsewhere.
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: setup setup-dev run cli index test lint docs bench clean train-reader

# Each step says what it does; pip shows its progress (a first set-up takes a few minutes).
PIP = $(BIN)/pip install --progress-bar on --disable-pip-version-check

$(BIN)/python:
	@echo "==> [1/4] creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: $(BIN)/python
	@echo "==> [2/4] installing PyTorch, CPU build ($(TORCH_SPEC))"
	$(PIP) $(TORCH_SPEC)
	@$(BIN)/python -c "import torch" && touch $@

$(VENV)/.setup: $(VENV)/.torch pyproject.toml
	@echo "==> [3/4] installing challenge-qa and its dependencies"
	$(PIP) -e .
	@$(BIN)/python -c "import challenge_qa" && touch $@

setup: $(VENV)/.setup
	@echo "==> set up: the command line is $(BIN)/challenge-qa (or: source $(BIN)/activate)"

setup-dev: $(VENV)/.torch
	@echo "==> installing challenge-qa with its test and development tools"
	$(PIP) --quiet -e '.[dev]'
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
		|| echo "chromium missing: browser tests will be skipped"

run: setup
	@echo "==> [4/4] starting the chat on http://$(HOST):$(PORT) (a first start builds the index of docs_corpus/ and loads the models: about a minute; Ctrl+C stops it)"
	HF_HUB_OFFLINE=1 $(BIN)/challenge-qa serve --host $(HOST) --port $(PORT)

# The command line without activating the environment: make cli ARGS='ask "Who plays the patient?"'
cli: setup
	@HF_HUB_OFFLINE=1 $(BIN)/challenge-qa $(ARGS)

index: setup
	HF_HUB_OFFLINE=1 $(BIN)/challenge-qa index

test: setup-dev
	$(MAKE) --no-print-directory lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# Retrain the shipped answer reader (71 min on 2 CPU cores: one pass over 18,000 SQuAD
# v1.1 train questions and the v2.0 unanswerable ones; a killed run resumes from its last
# checkpoint in build/reader-work), score it on held-out data, and draw the learning curve.
train-reader: setup-dev
	HF_HUB_OFFLINE=1 $(BIN)/python training/train_reader.py train --questions 18000
	HF_HUB_OFFLINE=1 $(BIN)/python training/train_reader.py evaluate
	HF_HUB_OFFLINE=1 $(BIN)/python training/train_reader.py curve

# Regenerate the README's generated tables: the command reference and the settings (from
# the code), and the measured figures (from benchmarks/results/*.json); the tests check both
docs: setup
	$(BIN)/python -m challenge_qa.app.reference README.md
	$(BIN)/python -m benchmarks.report

# ruff on everything, mypy (None misuse included) on the library
lint:
	$(BIN)/ruff check src tests benchmarks training app.py
	$(BIN)/mypy

clean:
	rm -rf $(VENV) index/manifest.json index/seg-* index/del-* index/gen-* index/.build.lock
