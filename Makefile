# The two commands a newcomer needs are `make demo` and `make test`; both set
# up everything themselves (virtual environment, Debian packages, the local
# cluster built from pinned Go modules) and are safe to run again.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv lint typecheck test test-unit test-cluster crds image cluster cluster-down demo dogfood screenshots clean

help:
	@echo "make demo          run the main job on the local cluster (started if needed)"
	@echo "make test          ruff, the layer contract, mypy and every test (unit and cluster tiers)"
	@echo "make test-unit     the fast tier alone (no cluster)"
	@echo "make crds          regenerate crds/ from the pydantic models"
	@echo "make image         build the operator and builder images into the local registry"
	@echo "make cluster       start the local cluster; make cluster-down stops it"
	@echo "make dogfood       shakedown builds, tests and rolls out itself in the local cluster"
	@echo "make screenshots   the dashboard tests, saving their pages as docs/dashboard-*.png"

$(STAMP): pyproject.toml
	@echo ">> preparing $(VENV) (Python packages are cached under ~/.cache/pip)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

test-unit: $(STAMP)
	$(BIN)/pytest -m "not cluster"

test-cluster: $(STAMP)
	$(BIN)/pytest -m cluster

test: lint typecheck $(STAMP)
	$(BIN)/pytest

# images/operator/Containerfile and images/builder/Containerfile, built with buildah
# on debootstrap bases and pushed to the local registry.
image: $(STAMP)
	$(BIN)/shakedown cluster image operator
	$(BIN)/shakedown cluster image builder

crds: $(STAMP)
	$(BIN)/shakedown crds --write crds/
	$(BIN)/shakedown crds --write charts/shakedown/crds/

cluster: $(STAMP)
	$(BIN)/shakedown cluster up

cluster-down: $(STAMP)
	$(BIN)/shakedown cluster down

demo: $(STAMP)
	$(BIN)/python -m shakedown.demo

# The dogfooding scene (README "Dogfooding"): the test, with its progress printed.
dogfood: $(STAMP)
	$(BIN)/pytest tests/cluster/test_dogfood.py -s -q -p no:cacheprovider

# The dashboard tests, saving the pages they drive as the screenshots in docs/.
screenshots: $(STAMP)
	SHAKEDOWN_SCREENSHOTS=docs $(BIN)/pytest tests/cluster/test_dashboard.py -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
