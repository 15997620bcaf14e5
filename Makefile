# The two set-up commands of the README. Both work on a fresh machine: they create
# .venv, install the CPU-friendly torch pair and the project, then run. Every other package
# comes at the version pinned in requirements/constraints.txt (what the suite last passed with);
# `make lock` refreshes that file on purpose from today's package index.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.offside-installed
LOCK := requirements/constraints.txt
EXTRAS := dev,lmms,quant,tracking,cluster
# torch is pinned per machine, outside the lock: x86_64 takes the pair on this workplace's disk
TORCH := $(if $(filter aarch64,$(shell uname -m)),torch==2.9.1 torchvision==0.24.1,torch==2.14.1 torchvision==0.29.1)
ENV := HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE

.PHONY: demo test lint bench gpu-check lock

$(STAMP): setup.cfg pyproject.toml $(LOCK)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -c $(LOCK) -e '.[$(EXTRAS)]'
	touch $(STAMP)

test: $(STAMP)
	$(ENV) $(PY) -m pytest -q --all-architectures

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	$(ENV) $(VENV)/bin/offside run demo --no_progress

# Speed ratios of the evaluation paths on the tiny model (a benchmark: prints a table, asserts nothing).
bench: $(STAMP)
	$(ENV) $(PY) bench/run.py

# The GPU paths once on a real accelerator (bf16 training, CUDA evaluation, vLLM vs hf_vlm, the GPU
# tests, a throughput table naming the card); on a machine without CUDA it says so and stops.
gpu-check: $(STAMP)
	$(ENV) $(PY) bench/gpu_check.py

# Resolve every dependency afresh (no constraints) in a scratch venv and pin what it got; then
# run `make test` to check the new pins before committing them.
lock:
	rm -rf .lock-venv
	python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q $(TORCH)
	.lock-venv/bin/pip install -q -e '.[$(EXTRAS)]'
	.lock-venv/bin/python requirements/freeze.py .lock-venv/bin/pip $(LOCK)
	rm -rf .lock-venv
