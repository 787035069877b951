# Surge: `make run` (everything, then the site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCENARIO ?= all
PYTEST_ARGS ?=
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv up stop status migrate seed run test test-redis-modes lint fmt bench bench-quick loadtest-ui clean drill drill-short drill-down

help:
	@echo "make run          set up everything and serve http://127.0.0.1:8000 (Ctrl-C stops it)"
	@echo "make test         set up the stores and run the whole suite"
	@echo "make test-redis-modes  the hot paths' tests on a Redis Sentinel group and on a Redis Cluster"
	@echo "make stop         stop the local PostgreSQL primary/replica and Redis"
	@echo "make bench        load-test scenarios against their naive baselines (SCENARIO=grab ...)"
	@echo "make loadtest-ui  the Locust web UI on http://127.0.0.1:8089"
	@echo "make lint         ruff and the migrations guard"
	@echo "make drill        the whole topology in network namespaces, every fault under load (root)"
	@echo "make drill-short  the same with four faults and short storms (CI)"
	@echo "make drill-down   stop whatever a drill left and delete its namespaces"

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

up: venv
	$(PY) deploy/devstack.py up

status:
	$(PY) deploy/devstack.py status

stop:
	@if [ -x $(PY) ]; then $(PY) deploy/devstack.py down; else $(PYTHON) deploy/devstack.py down; fi
	@if [ -d .devstack-ha ]; then SURGE_DEVSTACK_DIR=.devstack-ha $(PYTHON) deploy/devstack.py down; fi
	@for d in .devstack-sentinel .devstack-cluster; do \
		if [ -d $$d ]; then SURGE_DEVSTACK_DIR=$$d $(PYTHON) deploy/devstack.py down; fi; done

migrate: up
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) deploy/run.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check --quiet . || (echo "run: make fmt"; exit 1)

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: up
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) deploy/testrun.py $(PYTEST_ARGS)

# The hot-path subset (marker `hotpath`) on Sentinel, then on Cluster, each on its own dev stack
# (.devstack-sentinel, .devstack-cluster), started before and stopped after its run.
test-redis-modes: venv
	$(PY) deploy/testrun.py --redis-modes

bench: migrate
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) -m loadtest.bench --scenario $(SCENARIO) $(BENCH_ARGS)

bench-quick: migrate
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) -m loadtest.bench --scenario $(SCENARIO) --quick

loadtest-ui: migrate
	$(PY) -m loadtest.bench --ui

# The drill needs root (network namespaces); it writes its table to deploy/DRILL.md.
drill: venv
	$(PY) deploy/drill.py run

drill-short: venv
	$(PY) deploy/drill.py run --short

drill-down:
	$(PYTHON) deploy/drill.py down

clean: stop
	rm -rf .devstack .devstack-ha .devstack-sentinel .devstack-cluster staticfiles
