{#- The UTC calendar day of a timestamp with time zone (DuckDB, Postgres and Spark). -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}

{#- Spark: the instant's wall-clock time in UTC (a TIMESTAMP_NTZ), whatever the session's zone. -#}
{% macro spark__utc_date(column) -%}
    cast(convert_timezone('UTC', {{ column }}) as date)
{%- endmacro %}
