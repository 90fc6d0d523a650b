-- sqlfluff:indentation:template_blocks_indent:False
-- One row per KPI of the catalogue (dbt/kpis.yml): whether the company's data can give it, and
-- if not, why (the unmet data requirements, int_data_requirements). An unavailable KPI is empty
-- in every mart, never 0: a company without an ERP sees "no revenue: the company has no ERP
-- among its sources", not a revenue of 0.
with

kpi_requirements as (
    {%- for kpi in kpi_catalogue() %}
    {%- set kpi_loop = loop %}
    {%- for requirement in kpi.requires %}
    select
        {{ sql_string(kpi.name) }} as kpi_name,
        {{ sql_string(kpi.label_en) }} as label_en,
        {{ sql_string(kpi.label_fr) }} as label_fr,
        {{ loop.index }} as requirement_order,
        {{ sql_string(requirement) }} as requirement_name
    {%- if not (kpi_loop.last and loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
),

joined as (
    select
        kpi_requirements.*,
        requirements.is_met,
        requirements.reason
    from kpi_requirements
    inner join {{ ref('int_data_requirements') }} as requirements
        on kpi_requirements.requirement_name = requirements.requirement_name
),

-- each distinct reason once (a KPI needing the ERP's invoices and costs lacks "the ERP" once)
reasons as (
    select
        kpi_name,
        reason,
        min(requirement_order) as reason_order
    from joined
    where not is_met
    group by kpi_name, reason
),

kpi_reasons as (
    select
        kpi_name,
        {{ dbt.listagg('reason', "'; '", 'order by reason_order') }} as reason
    from reasons
    group by kpi_name
),

kpis as (
    select
        kpi_name,
        label_en,
        label_fr,
        {{ dbt.listagg('requirement_name', "', '", 'order by requirement_order') }} as requires,
        min(case when is_met then 1 else 0 end) = 1 as is_available
    from joined
    group by kpi_name, label_en, label_fr
),

final as (
    select
        kpis.kpi_name,
        kpis.label_en,
        kpis.label_fr,
        kpis.requires,
        kpis.is_available,
        kpi_reasons.reason
    from kpis
    left join kpi_reasons
        on kpis.kpi_name = kpi_reasons.kpi_name
)

select * from final
