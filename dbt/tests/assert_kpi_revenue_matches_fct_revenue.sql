-- Revenue in kpi_rep_month adds up, month by month, to the revenue fct_revenue attributes to
-- account executives (up to the as-of month). Returns the months where the two differ.
with

kpi as (
    select
        month_start,
        sum(revenue) as kpi_revenue
    from {{ ref('kpi_rep_month') }}
    group by month_start
),

facts as (
    select
        fct_revenue.month_start,
        sum(fct_revenue.revenue) as fct_revenue
    from {{ ref('fct_revenue') }} as fct_revenue
    inner join {{ ref('dim_rep') }} as dim_rep
        on fct_revenue.rep_id = dim_rep.rep_id
    where
        dim_rep.role_type = 'rep'
        and fct_revenue.month_start <= {{ month_start(as_of_date()) }}
    group by fct_revenue.month_start
),

compared as (
    select
        coalesce(kpi.month_start, facts.month_start) as month_start,
        coalesce(kpi.kpi_revenue, 0) as kpi_revenue,
        coalesce(facts.fct_revenue, 0) as fct_revenue
    from kpi
    full outer join facts
        on kpi.month_start = facts.month_start
)

select * from compared
where kpi_revenue <> fct_revenue
