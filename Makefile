# The two set-up commands of the README. Both work on a fresh machine: they create
# .venv, install the CPU-friendly torch pair and the project, then run.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.offside-installed

.PHONY: demo test bench

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,lmms]'
	touch $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q --all-architectures

demo: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/offside run demo --no_progress

# Speed ratios of the evaluation paths on the tiny model (a benchmark: prints a table, asserts nothing).
bench: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(PY) bench/run.py
