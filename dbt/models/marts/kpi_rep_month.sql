-- One row per account executive and month: activity volumes, revenue, margin, revenue
-- objective and pacing as of the as-of date.
-- Every KPI's formula and threshold comes from the KPI catalogue (dbt/kpis.yml) through the
-- generated macros kpi() and kpi_threshold() (macros/_kpi_catalogue.sql).
with

spine as (
    select * from {{ ref('int_rep_months__spine') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

activity_counts as (
    select
        rep_id,
        month_start,
        {{ kpi('calls') }} as calls,
        {{ kpi('emails') }} as emails,
        {{ kpi('meetings') }} as meetings,
        {{ kpi('proposals') }} as proposals,
        {{ kpi('quotes') }} as quotes,
        {{ kpi('contracts') }} as contracts,
        {{ kpi('activities') }} as activities
    from {{ ref('fct_activities') }}
    group by rep_id, month_start
),

revenue as (
    select
        rep_id,
        month_start,
        {{ kpi('quantity') }} as quantity,
        {{ kpi('revenue') }} as revenue,
        {{ kpi('cost') }} as cost,
        {{ kpi('gross_margin') }} as gross_margin
    from {{ ref('fct_revenue') }}
    group by rep_id, month_start
),

targets as (
    -- the rep's monthly revenue targets in force (a revision after the month leaves it as it was)
    select
        rep_id,
        period_start as month_start,
        {{ kpi('revenue_target') }} as revenue_target
    from {{ ref('int_targets__in_force') }}
    where target_level = 'rep' and period_type = 'month' and metric = 'revenue'
    group by rep_id, period_start
),

joined as (
    select
        spine.month_start,
        spine.rep_id,
        reps.rep_name,
        reps.email as rep_email,
        reps.team_id,
        reps.team_name,
        reps.region_name,
        reps.manager_email,
        coalesce(activity_counts.calls, 0) as calls,
        coalesce(activity_counts.emails, 0) as emails,
        coalesce(activity_counts.meetings, 0) as meetings,
        coalesce(activity_counts.proposals, 0) as proposals,
        coalesce(activity_counts.quotes, 0) as quotes,
        coalesce(activity_counts.contracts, 0) as contracts,
        coalesce(activity_counts.activities, 0) as activities,
        coalesce(revenue.quantity, 0) as quantity,
        coalesce(revenue.revenue, 0) as revenue,
        coalesce(revenue.cost, 0) as cost,
        coalesce(revenue.gross_margin, 0) as gross_margin,
        targets.revenue_target,
        {{ dbt.datediff(
            'spine.month_start',
            dbt.dateadd('month', 1, 'spine.month_start'),
            'day'
        ) }} as days_in_month,
        {{ dbt.datediff('spine.month_start', as_of_date(), 'day') }}
        + 1 as days_since_month_start
    from spine
    inner join reps
        on spine.rep_id = reps.rep_id
    left join activity_counts
        on
            spine.rep_id = activity_counts.rep_id
            and spine.month_start = activity_counts.month_start
    left join revenue
        on
            spine.rep_id = revenue.rep_id
            and spine.month_start = revenue.month_start
    left join targets
        on
            spine.rep_id = targets.rep_id
            and spine.month_start = targets.month_start
),

elapsed as (
    select
        *,
        case
            when days_since_month_start < 0 then 0
            when days_since_month_start > days_in_month then days_in_month
            else days_since_month_start
        end as elapsed_days
    from joined
),

paced as (
    select
        *,
        -- pace from the unrounded prorated target: revenue * days / (target * elapsed)
        {{ kpi('pace') }} as pace
    from elapsed
),

final as (
    select
        cast(month_start as date) as month_start,
        rep_id,
        rep_name,
        rep_email,
        team_id,
        team_name,
        region_name,
        manager_email,
        cast(calls as integer) as calls,
        cast(emails as integer) as emails,
        cast(meetings as integer) as meetings,
        cast(proposals as integer) as proposals,
        cast(quotes as integer) as quotes,
        cast(contracts as integer) as contracts,
        cast(activities as integer) as activities,
        cast(quantity as decimal(18, 3)) as quantity,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(cost as decimal(18, 2)) as cost,
        cast(gross_margin as decimal(18, 2)) as gross_margin,
        {{ kpi('margin_pct') }} as margin_pct,
        cast(revenue_target as decimal(18, 2)) as revenue_target,
        {{ kpi('attainment') }} as attainment,
        cast(days_in_month as integer) as days_in_month,
        cast(elapsed_days as integer) as elapsed_days,
        cast({{ kpi('prorated_target_to_date') }} as decimal(18, 2))
            as prorated_target_to_date,
        pace,
        case
            when revenue_target is null or revenue_target = 0 then 'no target'
            when pace is null then 'not started'
            when pace >= {{ kpi_threshold('pace', 'green') }} then 'on track'
            when pace <= {{ kpi_threshold('pace', 'red') }} then 'off track'
            else 'at risk'
        end as status,
        {{ as_of_date() }} as as_of_date
    from paced
)

select * from final
