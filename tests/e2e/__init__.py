"""End-to-end layer: Dagster jobs, full pipeline runs, a real Superset, PostgreSQL, compose."""
