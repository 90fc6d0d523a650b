{#- 8-byte floating point for ratios (dbt.type_float() is a 4-byte FLOAT on DuckDB). -#}
{% macro type_double() -%}
    double precision
{%- endmacro %}
