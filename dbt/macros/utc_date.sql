{#- The UTC calendar day of a timestamp with time zone (portable: DuckDB and Postgres). -#}
{% macro utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}
