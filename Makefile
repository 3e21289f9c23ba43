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

.PHONY: help install run test lint typecheck test-sqlite test-postgres e2e bench clean

help:
	@echo "make run    - serve Yunying on http://127.0.0.1:8000 (SQLite, ./var, WeChat simulator, demo data)"
	@echo "make test   - every test (SQLite, PostgreSQL and Redis when reachable, browser e2e) and the linters"
	@echo "make bench  - benchmarks, one JSON object per line"
	@echo "make install - only the bootstrapping: .venv and the PWA build"

$(PY_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
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
	$(BIN)/ruff check backend tests benchmarks
	$(BIN)/mypy

test-sqlite: $(PY_STAMP)
	@echo "== tests on SQLite =="
	@redis_env=""; if $(PY) -c "import redis,sys; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null; then \
		redis_env="YUNYING_TEST_REDIS_URL=$(TEST_REDIS_URL)"; else echo "!!! Redis at $(TEST_REDIS_URL) does not answer: Redis tests SKIPPED !!!"; fi; \
	env $$redis_env $(BIN)/pytest -q

test-postgres: $(PY_STAMP)
	@if $(PY) -c "import psycopg; psycopg.connect('$(TEST_PG_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then \
		echo "== database tests again on PostgreSQL =="; \
		redis_env=""; if $(PY) -c "import redis; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null; then redis_env="YUNYING_TEST_REDIS_URL=$(TEST_REDIS_URL)"; fi; \
		env $$redis_env YUNYING_TEST_DATABASE_URL=$(TEST_PG_URL) YUNYING_TEST_DB_ONLY=1 $(BIN)/pytest -q; \
	else echo "!!! PostgreSQL at $(TEST_PG_URL) does not answer: PostgreSQL tests SKIPPED !!!"; fi

test: install lint test-sqlite test-postgres

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(PWA_DIR)/node_modules $(PWA_DIR)/dist .mypy_cache .pytest_cache .ruff_cache
