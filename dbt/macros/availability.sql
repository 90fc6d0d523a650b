{#-
    KPIs the company's data cannot give are empty, never 0 (dbt/kpis.yml: a KPI `requires` data
    requirements; int_data_requirements says which are met, marts.kpi_availability why not).
    A mart that uses if_available() adds the CTE `availability as ({{ data_availability() }})`
    and cross joins it into the relation its KPI columns are selected from (its met_<name>
    columns); `relation` qualifies them when that select reads several relations.
-#}

{#- One row: a boolean column met_<requirement> per data requirement of the catalogue. -#}
{% macro data_availability() -%}
    select
        {%- for requirement in data_requirements() %}
        max(
            case when requirement_name = '{{ requirement.name }}' and is_met then 1 else 0 end
        ) = 1 as met_{{ requirement.name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_data_requirements') }}
{%- endmacro %}

{#- `expression` when the company's data can give the KPI, else null. -#}
{% macro if_available(kpi_name, expression, relation=none) -%}
    case
        when
            {%- for requirement in kpi_requires(kpi_name) %}
            {{ relation ~ '.' if relation }}met_{{ requirement }}{{ ' and' if not loop.last }}
            {%- endfor %}
            then {{ expression }}
    end
{%- endmacro %}

{#- The source systems the company has (var `sources`, from PILOTAGE_SOURCES): a list. -#}
{% macro source_systems() -%}
    {%- set value = var('sources', 'crm,erp') -%}
    {%- set names = (value if value is string else value | join(',')).split(',') -%}
    {{ return(names | map('trim') | map('lower') | reject('equalto', '') | list) }}
{%- endmacro %}

{#- In a staging model: true when the company has this source system, else false. A system it
    does not have reads nothing, whatever its raw tables still hold from earlier loads: they are
    kept, and count again once the system is configured back. -#}
{% macro is_source_system(system) -%}
    {{ 'true' if system in source_systems() else 'false' }}
{%- endmacro %}

{#- A text value as a SQL string literal (quotes doubled). -#}
{% macro sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
