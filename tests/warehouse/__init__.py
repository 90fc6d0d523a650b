"""Warehouse layer: reads the session-built demo warehouse or runs dbt on DuckDB."""
