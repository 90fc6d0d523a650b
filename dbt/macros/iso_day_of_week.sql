{#- ISO day of the week of a date: 1 (Monday) to 7 (Sunday), as an integer. -#}
{% macro iso_day_of_week(column) -%}
    {{ return(adapter.dispatch('iso_day_of_week')(column)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(column) -%}
    cast(extract(isodow from {{ column }}) as integer)
{%- endmacro %}

{% macro spark__iso_day_of_week(column) -%}
    cast(extract(dow_iso from {{ column }}) as integer)
{%- endmacro %}
