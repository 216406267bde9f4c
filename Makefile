# Shortcuts for terse's developers. PYTHON defaults to the project's .venv when there is one.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: test llama-test bench llama-demo

test:  ## the offline suite (real llama-server tests skipped)
	$(PYTHON) -m pytest -q -p no:cacheprovider

llama-test:  ## the integration tests against a real llama-server (first run builds it: 5-12 min)
	$(PYTHON) scripts/llama_server.py build
	$(PYTHON) scripts/llama_server.py model
	TERSE_LLAMA=1 $(PYTHON) -m pytest -q -p no:cacheprovider -m llama tests/integration

bench:  ## every benchmark, one table of ratios (set TERSE_LLAMA=1 to include the real server)
	$(PYTHON) benchmarks/run_all.py

llama-demo:  ## terse against a real llama-server and SmolLM2-135M: budgets, cuts, streaming
	$(PYTHON) scripts/llama_demo.py
