"""Unit layer: no warehouse built, no dbt run, no server (pure Python and scratch loads)."""
