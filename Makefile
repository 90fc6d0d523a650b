# pilotage task runner. The two commands of the README:
#   make demo   install everything, build the warehouse from demo data, serve Superset and Dagster
#   make test   install everything, lint, run the whole test suite
# and, while working: make test-fast (ruff and the unit tests, under a minute).
.DEFAULT_GOAL := help
UV := .tools/bin/uv
RUN := $(UV) run --frozen

.PHONY: help install demo refresh test test-fast snapshots lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: ## install both pinned environments (pipeline and Superset)
	@./scripts/install.sh

demo: install ## demo data -> warehouse -> checks -> publish -> Superset :8088 and Dagster :3000
	@$(RUN) pilotage demo

refresh: install ## same as demo without starting the servers (for scripts and cron)
	@$(RUN) pilotage demo --no-serve

# sqlfluff --processes 0: one process per core (its dbt templater is the slow part of the lint)
lint: install ## ruff and sqlfluff
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) pilotage kpis --check
	@cd dbt && ../$(RUN) sqlfluff lint --processes 0 models macros tests

test: lint ## lint, then the whole test suite
	@$(RUN) pytest

test-fast: ## ruff and the unit layer (tests/unit: no warehouse, dbt or server), under a minute
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) pytest -q tests/unit

snapshots: ## rewrite tests/snapshots (the Dagster asset graph) after an intended change
	@PILOTAGE_UPDATE_SNAPSHOTS=1 $(RUN) pytest -q tests/warehouse/test_asset_graph.py

format: install ## apply ruff formatting and sqlfluff fixes
	@$(RUN) ruff format .
	@cd dbt && ../$(RUN) sqlfluff fix models macros tests

clean: ## remove generated data (extracts, warehouse, serving file, Dagster and Superset homes)
	rm -rf data dbt/target
