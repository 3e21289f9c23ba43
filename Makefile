# Yunying 云影 — two commands on a fresh machine: `make run` and `make test`.
# Every target bootstraps what is missing (.venv, Python packages, the PWA build).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
PWA_DIR := pwa
PWA_DIST := $(PWA_DIR)/dist/index.html
PWA_SOURCES := $(shell find $(PWA_DIR) -path $(PWA_DIR)/node_modules -prune -o -path $(PWA_DIR)/dist -prune -o -type f -print 2>/dev/null)

# Local services used by `make test` when they answer (CONTRACT.md: PostgreSQL database `test`, Redis).
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_REDIS_URL_PG ?= redis://127.0.0.1:6379/14

.PHONY: help install run test lint pwa-test tests e2e bench load clean cluster cluster-status cluster-down

help:
	@echo "make run    - serve Yunying on http://127.0.0.1:8000 (SQLite, ./var, WeChat simulator, demo data)"
	@echo "make test   - every test (SQLite, PostgreSQL and Redis when reachable, browser e2e) and the linters"
	@echo "make bench  - benchmarks, one JSON object per line"
	@echo "make load   - the standard load run against LOAD_URL (docs/load.md)"
	@echo "make install - only the bootstrapping: .venv and the PWA build"
	@echo "make cluster - nginx + 2 web nodes + 1 worker + SeaweedFS S3 on loopback (PostgreSQL, Redis, RabbitMQ of this machine); make cluster-down"

$(PY_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(PY_STAMP)

$(PWA_DIST): $(PWA_SOURCES)
	@if [ -f $(PWA_DIR)/package.json ]; then \
		cd $(PWA_DIR) && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "no PWA sources yet"; fi

install: $(PY_STAMP) $(PWA_DIST)

run: install
	$(BIN)/yunying migrate
	$(BIN)/yunying demo seed
	$(BIN)/yunying serve --host 127.0.0.1 --port 8000

lint: $(PY_STAMP)
	$(BIN)/ruff check backend tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The PWA's unit tests (Vitest, plain Node): the viewer's slice cache, gestures and compare sync, the
# API client's middleware, generated types up to date; type-checked with the app first.
pwa-test: $(PWA_DIST)
	cd $(PWA_DIR) && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } \
		&& npx vue-tsc --noEmit -p tsconfig.vitest.json && npm test

# The SQLite pass (every test) and the PostgreSQL pass (every test that touches a database) run side by
# side: most of the suite waits on live servers and subprocesses, so two passes fit two cores. Each pass
# has its own Redis database. Logs are printed whole, one after the other.
TEST_LOGS := .test-logs

tests: $(PY_STAMP)
	@mkdir -p $(TEST_LOGS)
	@redis_ok=0; if $(PY) -c "import redis; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null; then redis_ok=1; \
	else echo "!!! Redis at $(TEST_REDIS_URL) does not answer: Redis tests SKIPPED !!!"; fi; \
	pg_ok=0; if $(PY) -c "import psycopg; psycopg.connect('$(TEST_PG_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then pg_ok=1; \
	else echo "!!! PostgreSQL at $(TEST_PG_URL) does not answer: PostgreSQL tests SKIPPED !!!"; fi; \
	redis_a=""; redis_b=""; if [ $$redis_ok = 1 ]; then redis_a="YUNYING_TEST_REDIS_URL=$(TEST_REDIS_URL)"; redis_b="YUNYING_TEST_REDIS_URL=$(TEST_REDIS_URL_PG)"; fi; \
	echo "== tests on SQLite$$( [ $$pg_ok = 1 ] && echo ', and database tests on PostgreSQL alongside') =="; \
	env $$redis_a $(BIN)/pytest -q -p no:cacheprovider > $(TEST_LOGS)/sqlite.log 2>&1 & sqlite_pid=$$!; \
	pg_rc=0; if [ $$pg_ok = 1 ]; then \
		env $$redis_b YUNYING_TEST_DATABASE_URL=$(TEST_PG_URL) YUNYING_TEST_DB_ONLY=1 $(BIN)/pytest -q -p no:cacheprovider > $(TEST_LOGS)/postgres.log 2>&1 || pg_rc=$$?; fi; \
	wait $$sqlite_pid; sqlite_rc=$$?; \
	echo "== SQLite pass (exit $$sqlite_rc) =="; cat $(TEST_LOGS)/sqlite.log; \
	if [ $$pg_ok = 1 ]; then echo "== PostgreSQL pass (exit $$pg_rc) =="; cat $(TEST_LOGS)/postgres.log; fi; \
	test $$sqlite_rc = 0 -a $$pg_rc = 0

e2e: install
	@if [ -x tests/e2e/run.sh ]; then bash tests/e2e/run.sh; else echo "no e2e suite yet"; fi

test: install lint pwa-test tests e2e

bench: install
	$(PY) -m benchmarks

# The standard load run (issue 18, docs/load.md) against LOAD_URL — `make run` in another terminal, or the
# cluster's proxy. The CLI here must reach the same deployment (same YUNYING_* settings).
LOAD_URL ?= http://127.0.0.1:8000
LOAD_ARGS ?= --users 200 --minutes 10 --hospitals 4 --patients 50
load: $(PY_STAMP)
	$(PY) -m tools.load.run --url $(LOAD_URL) --out load-results $(LOAD_ARGS)

# The whole topology on loopback ports (tools/cluster/): CLUSTER_PORT_BASE (8800), CLUSTER_DIR (var/cluster),
# CLUSTER_PG_URL, CLUSTER_REDIS_URL, CLUSTER_AMQP. Needs nginx (Debian package) and RabbitMQ's rabbitmqctl.
# CLUSTER_ARGS=--private: PostgreSQL, Redis and RabbitMQ of its own, which fault runs may stop (docs/load.md).
CLUSTER_ARGS ?=
cluster: install
	$(PY) -m tools.cluster up $(CLUSTER_ARGS)

cluster-status: $(PY_STAMP)
	$(PY) -m tools.cluster status

cluster-down: $(PY_STAMP)
	$(PY) -m tools.cluster down

clean:
	rm -rf $(VENV) $(PWA_DIR)/node_modules $(PWA_DIR)/dist .mypy_cache .pytest_cache .ruff_cache
