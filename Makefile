# Switchboard — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: $(BIN)/uv pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --quiet
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(UV) sync --frozen --inexact --quiet --extra test
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the project
install-test: $(VENV)/.installed-test ## Install the project with its test dependencies

run: install ## Start Temporal (UI :8233), a worker and the gateway (:8000); Ctrl-C stops all
	$(BIN)/python -m switchboard.devtools.run

chat: install ## Text the running agent as a customer through the simulator (sandbox mode)
	$(BIN)/python -m switchboard.devtools.simulator

populate: install ## Simulate N customers (default 50) to fill the insights (`make run` first)
	$(BIN)/python -m switchboard.devtools.simulator --population $(or $(N),50) $(if $(SEED),--seed $(SEED))

reanalyze: install ## Run operators again over stored conversations: OPS="topic sentiment" [FROM=2026-11-01] [TO=…]
	$(BIN)/python -m switchboard.devtools.reanalyze $(OPS) $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO))

replay-gate: install ## Replay open (and 24h-closed) workflows against this checkout [WITHIN=6h] [DIR=histories/]
	$(BIN)/python -m switchboard.devtools.replay_gate $(if $(WITHIN),--closed-within $(WITHIN)) $(if $(DIR),--history-dir $(DIR))

test: install-test ## Run the whole test suite (starts its own Temporal dev server and fakes)
	$(BIN)/python -m pytest -q

fuzz: install-test ## Fuzz every outside input hard (thousands of cases a property; `make test` tries 100)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/fuzz

lint: install-test ## ruff (lint and format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-test ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-test ## Run the benchmarks (see benchmarks/README.md)
	$(BIN)/python benchmarks/messaging.py
	$(BIN)/python benchmarks/voice.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/tools.py

bench-voice: install-test ## Only the voice benchmark (prompt → first token)
	$(BIN)/python benchmarks/voice.py

bench-memory: install-test ## Only the memory benchmark (recall, knowledge search, ingest)
	$(BIN)/python benchmarks/memory.py

bench-tools: install-test ## Only the tools and handoff benchmark (tool turns, handoff, operator API)
	$(BIN)/python benchmarks/tools.py

bench-reanalysis: install-test ## Only the re-analysis benchmark (stored conversations per second)
	$(BIN)/python benchmarks/reanalysis.py

bench-scale: install-test ## Only the scale benchmark (10,000 open conversations, a 2,000-turn one, CPU per turn)
	$(BIN)/python benchmarks/scale.py

bench-chaos: install-test ## Texts and calls while workers and gateways are SIGKILLed (lost, duplicated)
	$(BIN)/python benchmarks/chaos.py

lock: $(BIN)/uv ## Refresh uv.lock after changing dependencies
	$(UV) lock

clean: ## Remove local state (.data) and caches; keeps .venv
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install install-test run chat populate reanalyze replay-gate test fuzz lint format bench bench-voice bench-memory bench-tools bench-reanalysis bench-chaos bench-scale lock clean
