{#-
    The "as of" day of the KPIs, as a SQL date expression.
    Taken from the var as_of_date (ISO date; default: env PILOTAGE_AS_OF); current_date when empty.
-#}
{% macro as_of_date() -%}
    {%- set value = (var('as_of_date', '') or '') | string | trim -%}
    {%- if value == '' -%}
        current_date
    {%- else -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error(
                "as_of_date must be an ISO date YYYY-MM-DD (var or PILOTAGE_AS_OF), got '"
                ~ value ~ "'"
            ) }}
        {%- endif -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}
