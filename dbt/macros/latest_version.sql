{#-
    The current state of each record of `relation`: the row with the latest `updated_at` per
    `unique_key`. Raw keeps every version of a record (dlt appends each extract), so every
    staging model reads through this. The extra column `version_rank` is 1 on every row: a
    staging model selects its columns by name, so it never reaches the layers above.
    Portable (no QUALIFY): DuckDB and Postgres.
-#}
{% macro latest_version(relation, unique_key, updated_at) -%}
    select * from (
        select
            *,
            row_number() over (
                partition by {{ unique_key }} order by {{ updated_at }} desc
            ) as version_rank
        from {{ relation }}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
