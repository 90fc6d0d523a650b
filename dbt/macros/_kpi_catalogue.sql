{#-
    Generated from dbt/kpis.yml by `python -m pilotage.kpi_catalogue --write`.
    Do not edit: change dbt/kpis.yml and regenerate (tests/test_kpi_catalogue.py checks).
-#}

{#- The SQL expression that computes a KPI's mart column (its catalogue row_formula). -#}
{% macro kpi(name) -%}
    {%- if name == 'calls' -%}
        sum(case when activity_type = 'call' then 1 else 0 end)
    {%- elif name == 'emails' -%}
        sum(case when activity_type = 'email' then 1 else 0 end)
    {%- elif name == 'meetings' -%}
        sum(case when activity_type = 'meeting' then 1 else 0 end)
    {%- elif name == 'proposals' -%}
        sum(case when activity_type = 'proposal' then 1 else 0 end)
    {%- elif name == 'quotes' -%}
        sum(case when activity_type = 'quote' then 1 else 0 end)
    {%- elif name == 'contracts' -%}
        sum(case when activity_type = 'contract' then 1 else 0 end)
    {%- elif name == 'activities' -%}
        count(*)
    {%- elif name == 'quantity' -%}
        sum(quantity)
    {%- elif name == 'revenue' -%}
        sum(revenue)
    {%- elif name == 'cost' -%}
        sum(cost)
    {%- elif name == 'gross_margin' -%}
        sum(gross_margin)
    {%- elif name == 'margin_pct' -%}
        case
            when revenue = 0 then null
            else cast(gross_margin as {{ type_double() }}) / cast(revenue as {{ type_double() }})
        end
    {%- elif name == 'revenue_target' -%}
        sum(target_value)
    {%- elif name == 'attainment' -%}
        case
            when revenue_target is null or revenue_target = 0 then null
            else cast(revenue as {{ type_double() }}) / cast(revenue_target as {{ type_double() }})
        end
    {%- elif name == 'prorated_target_to_date' -%}
        revenue_target * elapsed_days / days_in_month
    {%- elif name == 'pace' -%}
        case
            when revenue_target is null or revenue_target = 0 or elapsed_days = 0 then null
            else
                cast(revenue as {{ type_double() }}) * days_in_month
                / (cast(revenue_target as {{ type_double() }}) * elapsed_days)
        end
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "KPI '" ~ name ~ "' has no row_formula in dbt/kpis.yml"
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- A KPI's threshold (level red or green; amber lies in between), as a SQL number. -#}
{% macro kpi_threshold(name, level) -%}
    {%- set thresholds = {
        'pace': {'red': 0.9, 'green': 1.0}
    } -%}
    {%- if name not in thresholds or level not in thresholds[name] -%}
        {{ exceptions.raise_compiler_error(
            "KPI '" ~ name ~ "' has no threshold '" ~ level ~ "' in dbt/kpis.yml"
        ) }}
    {%- endif -%}
    {{ thresholds[name][level] }}
{%- endmacro %}
