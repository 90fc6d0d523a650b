{#-
    The one rounding rule of the KPIs: a quotient (a ratio, a rate, days per deal, a pace) is
    rounded half away from zero to 6 decimals before it is stored or compared with a threshold.
    Exactly on target then reads 1.0 on every build, never 0.9999999999999998. The kpi() macro
    applies it to every quotient KPI of the catalogue (pilotage/kpi_catalogue.py).
-#}
{% macro round_ratio(expression) -%}
    {{ return(adapter.dispatch('round_ratio')(expression)) }}
{%- endmacro %}

{% macro default__round_ratio(expression) -%}
    cast(round(cast({{ expression }} as numeric), 6) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__round_ratio(expression) -%}
    round({{ expression }}, 6)
{%- endmacro %}

{#- Spark: round() of a double rounds half up (away from zero), as the rule says. -#}
{% macro spark__round_ratio(expression) -%}
    round(cast({{ expression }} as double), 6)
{%- endmacro %}

{#- round_ratio of the caller's body: {% call round_ratio_of() %} ... {% endcall %}. -#}
{% macro round_ratio_of() -%}
    {{ round_ratio(caller()) }}
{%- endmacro %}
