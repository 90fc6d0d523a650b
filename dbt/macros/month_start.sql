{#- First day of the month of a date, as a date (Postgres' date_trunc returns a timestamp). -#}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}
