# A newcomer's entry points. Every target uses the project's venv.
PY := .venv/bin/python
.DEFAULT_GOAL := help

.PHONY: help install quickstart test test-fast lint format sweep-optimizers sweep-schedulers sweep-grid bench

help:               ## list the targets
	@grep -E '^[a-z-]+: +##' Makefile | sed -E 's/: +## /\t/'

install:            ## create .venv and install the package with its dev tools
	python3 -m venv .venv
	.venv/bin/pip install -e '.[dev]'

quickstart:         ## the main job on the embedded synthetic set: CPU, a few minutes, W&B offline
	$(PY) -m fer_lightning experiment=quickstart

test:               ## the whole suite, as CI runs it
	WANDB_MODE=offline $(PY) -m pytest -q -p no:cacheprovider tests

test-fast:          ## skip the subprocess tests (multirun, DDP, CLIs)
	WANDB_MODE=offline $(PY) -m pytest -q -m "not slow" tests

lint:               ## ruff lint and format check
	.venv/bin/ruff check fer_lightning hydra_plugins tests benchmarks
	.venv/bin/ruff format --check fer_lightning hydra_plugins tests benchmarks

format:             ## ruff fix and format
	.venv/bin/ruff check --fix fer_lightning hydra_plugins tests benchmarks
	.venv/bin/ruff format fer_lightning hydra_plugins tests benchmarks

sweep-optimizers:   ## the paper's optimizer figure: 7 optimizers x {constant, plateau}
	$(PY) -m fer_lightning -m experiment=khaireddin2021_protocol optimizer=sgd,sgd_nesterov,asgd,adam,amsgrad,adagrad,adadelta scheduler=constant,plateau

sweep-schedulers:   ## the paper's scheduler figure: SGD + Nesterov x 6 schedules
	$(PY) -m fer_lightning -m experiment=khaireddin2021_protocol optimizer=sgd_nesterov scheduler=plateau,step,one_cycle,cosine,cosine_restarts,constant

sweep-grid:         ## the full 7 x 6 grid
	$(PY) -m fer_lightning -m experiment=khaireddin2021_protocol optimizer=sgd,sgd_nesterov,asgd,adam,amsgrad,adagrad,adadelta scheduler=plateau,step,one_cycle,cosine,cosine_restarts,constant

bench:              ## CPU-sized benchmarks (parse time, throughput)
	$(PY) benchmarks/parse_csv.py
	$(PY) benchmarks/throughput.py
