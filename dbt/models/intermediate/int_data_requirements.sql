-- sqlfluff:indentation:template_blocks_indent:False
-- a table, not a view: every KPI mart reads it, and it probes every staged object
{{ config(materialized='table') }}
-- One row per data requirement of the KPI catalogue (dbt/kpis.yml, data_requirements): whether
-- the company has the source system that delivers it (var sources, PILOTAGE_SOURCES), whether
-- the warehouse holds such data, and the reason when it does not. A KPI whose requirements are
-- not all met is empty in the marts (macro if_available), and marts.kpi_availability says why.

with

requirements as (
    {%- for requirement in data_requirements() %}
    select
        {{ sql_string(requirement.name) }} as requirement_name,
        {{ sql_string(requirement.label) }} as requirement_label,
        {{ sql_string(requirement.system) }} as source_system,
        {{ is_source_system(requirement.system) }} as is_configured,
        {{ data_requirement_present(requirement.name) }} as is_present,
        {{ sql_string(requirement.missing) }} as missing_reason,
        {{ sql_string('the company has no ' ~ requirement.system | upper
            ~ ' among its sources (PILOTAGE_SOURCES)') }} as unconfigured_reason
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        requirement_name,
        requirement_label,
        source_system,
        is_configured,
        is_present,
        is_configured and is_present as is_met,
        case
            when not is_configured then unconfigured_reason
            when not is_present then missing_reason
        end as reason
    from requirements
)

select * from final
