# numproxy — developer entry points. Everything installs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install run test test-unit test-integration test-e2e test-faults protos protos-check docs docs-check links lint fmt audit clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## install: the project and its dev tools into .venv (again when pyproject.toml changes)
install: $(STAMP)

## help: this list of targets
help:
	@sed -n 's/^## \([a-z0-9-]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | \
		awk -F'\t' '{ printf "  %-17s %s\n", $$1, $$2 }'

## run: the whole local stack (SQLite + simulator) in the foreground
run: install
	$(BIN)/numproxy dev

## test: lint, generated-code check, link check, dependency audit and every test suite
test: install lint protos-check docs-check links audit
	$(BIN)/python -m pytest -q

## test-unit: tests/unit (logic called directly; SQLite and PostgreSQL)
test-unit: install
	$(BIN)/python -m pytest -q tests/unit

## test-integration: tests/integration (real gRPC and HTTP servers in the test process)
test-integration: install
	$(BIN)/python -m pytest -q tests/integration

## test-e2e: tests/e2e (the services as real processes)
test-e2e: install
	$(BIN)/python -m pytest -q tests/e2e

## test-faults: delivery guarantees under crashes and provider faults (real processes, PostgreSQL)
test-faults: install
	$(BIN)/python -m pytest -q tests/faults

## protos: regenerate numproxy.v1 (services/v1) and numproxy.internal.v1 (services/internal/v1)
protos: install
	$(BIN)/python scripts/gen_protos.py

## protos-check: fail when the generated code differs from protos/
protos-check: install
	$(BIN)/python scripts/gen_protos.py --check

## docs: regenerate the settings tables (docs/configuration.md) and the chart's values table
docs: install
	$(BIN)/python scripts/settings_doc.py
	$(BIN)/python scripts/chart_doc.py

## docs-check: fail when a generated table is stale
docs-check: install
	$(BIN)/python scripts/settings_doc.py --check
	$(BIN)/python scripts/chart_doc.py --check

## links: check every relative link and anchor in the markdown files (nothing fetched)
links: install
	$(BIN)/python scripts/check_links.py

## bench: the benchmark suite (under 10 min; BENCH_OPTS=--quick): table + bench/results/*.json
.PHONY: bench
bench: install
	$(BIN)/python -m bench $(BENCH_OPTS)

## lint: ruff check, ruff format --check, mypy --strict
lint: install
	$(BIN)/ruff check services tests scripts bench docs/examples
	$(BIN)/ruff format --check services tests scripts bench docs/examples
	$(BIN)/mypy

## audit: the image's pinned dependencies against known advisories (skipped, and said so, offline)
audit: install
	bash scripts/audit.sh

## fmt: ruff fix + format
fmt: install
	$(BIN)/ruff check --fix services tests scripts bench docs/examples
	$(BIN)/ruff format services tests scripts bench docs/examples

## bench-routing: 10k vs 1M active sessions: lookup / create latency (BENCH_ARGS to tune)
bench-routing: install
	$(BIN)/python scripts/bench_routing.py $(BENCH_ARGS)

## clean: remove .venv, build output and tool caches
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# --- containers and chart ---
# Images are built offline: scripts/docker/ starts a Docker engine when none answers, builds
# the base images by debootstrap and the numproxy image from a wheelhouse made on the host.
# All steps are idempotent and cached. `bash scripts/docker/provision.sh` does all of them.
.PHONY: image postgres-image helm-check test-containers

## image: numproxy:dev (offline build; starts dockerd if needed)
image:
	bash scripts/docker/engine.sh
	bash scripts/docker/build-image.sh

## postgres-image: local/postgres:15 (Debian's PostgreSQL with the official image's env vars)
postgres-image:
	bash scripts/docker/engine.sh
	bash scripts/docker/postgres-image.sh

## helm-check: lint, render and validate the chart with helm 3 and helm 4
helm-check: install
	bash scripts/helm/check.sh

## test-containers: deployment rehearsal of the chart + testcontainers tests
test-containers: install image postgres-image
	bash scripts/helm/tools.sh
	$(BIN)/python -m pytest -q tests/containers
# --- end containers and chart ---
