{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_revenue'}}}) }}
-- Warning, not a gate: the CRM's won amount (won opportunities by close month) against the ERP's
-- net invoiced revenue (posted invoices minus credit notes, by invoice month), per closed month
-- within var crm_vs_erp_month_tolerance and over all closed months within
-- crm_vs_erp_period_tolerance (both relative to the CRM side; dbt_project.yml says why those
-- values). The two systems drift apart for business reasons (a won deal not invoiced yet, a
-- credit note, an amount edited in one system only): the published numbers are still each
-- system's right numbers, so a drift alerts someone instead of stopping the dashboards. The
-- as-of month is not judged (its last won deals are invoiced later); nothing is compared when
-- the company lacks the CRM's opportunities or the ERP's invoices (marts.kpi_availability).
{%- set month_tolerance = var('crm_vs_erp_month_tolerance') %}
{%- set period_tolerance = var('crm_vs_erp_period_tolerance') %}

with

availability as (
    {{ data_availability() }}
),

won as (
    select
        {{ month_start('close_date') }} as month_start,
        sum(amount) as crm_won
    from {{ ref('fct_opportunities') }}
    where is_won and close_date is not null
    group by {{ month_start('close_date') }}
),

invoiced as (
    select
        month_start,
        sum(revenue) as erp_invoiced
    from {{ ref('fct_revenue') }}
    group by month_start
),

closed_months as (
    select
        coalesce(won.month_start, invoiced.month_start) as month_start,
        coalesce(won.crm_won, 0) as crm_won,
        coalesce(invoiced.erp_invoiced, 0) as erp_invoiced
    from won
    full outer join invoiced
        on won.month_start = invoiced.month_start
    cross join availability
    where
        coalesce(won.month_start, invoiced.month_start) < {{ month_start(as_of_date()) }}
        and availability.met_opportunities
        and availability.met_invoices
),

judged as (
    select
        'month' as scope,
        month_start,
        crm_won,
        erp_invoiced,
        {{ month_tolerance }} as tolerance
    from closed_months
    union all
    select
        'all closed months' as scope,
        null as month_start,
        sum(crm_won) as crm_won,
        sum(erp_invoiced) as erp_invoiced,
        {{ period_tolerance }} as tolerance
    from closed_months
    having count(*) > 0
)

select
    scope,
    month_start,
    crm_won,
    erp_invoiced,
    erp_invoiced - crm_won as difference,
    case when crm_won != 0 then abs(erp_invoiced - crm_won) / abs(crm_won) end as relative_gap,
    tolerance
from judged
where
    (crm_won = 0 and erp_invoiced != 0)
    or (crm_won != 0 and abs(erp_invoiced - crm_won) / abs(crm_won) > tolerance)
