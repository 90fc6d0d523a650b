{#- 8-byte floating point for ratios (dbt.type_float() is a 4-byte FLOAT on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{#- Spark SQL has no two-word type names: DOUBLE, TIMESTAMP (macros/spark.sql). -#}
{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- An instant (timestamp with time zone on DuckDB and Postgres; Spark's TIMESTAMP is one). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}
