-- The additive base of the performance KPIs: one row per account executive (role_type rep)
-- and day, from the first day of the rep's hire month (as kpi_rep_month) to the as-of date,
-- with the team and region the rep belonged to THAT DAY (int_reps__team_history) and the day's
-- counts and amounts. Every KPI of kpi_performance is a ratio of sums of these columns, so any
-- level (rep, team, region, company) and period is a plain sum: never an average of ratios.
-- Events dated after the as-of date (meetings planned) are not counted.
with

days as (
    select * from {{ ref('dim_date') }}
    where date_day <= {{ as_of_date() }}
),

reps as (
    select * from {{ ref('dim_rep') }}
    where role_type = 'rep'
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

rep_days as (
    select
        days.date_day,
        reps.rep_id,
        days.is_working_day
    from days
    cross join reps
    where reps.hire_date is null or days.date_day >= {{ month_start('reps.hire_date') }}
),

activities as (
    select
        rep_id,
        activity_date as date_day,
        {{ kpi('calls') }} as calls,
        {{ kpi('emails') }} as emails,
        {{ kpi('meetings') }} as meetings,
        {{ kpi('meetings_held') }} as meetings_held,
        {{ kpi('proposals') }} as proposals,
        {{ kpi('quotes') }} as quotes,
        {{ kpi('contracts') }} as contracts,
        {{ kpi('activities') }} as activities
    from {{ ref('fct_activities') }}
    group by rep_id, activity_date
),

new_opportunities as (
    select
        rep_id,
        created_date as date_day,
        {{ kpi('new_opportunities') }} as new_opportunities
    from {{ ref('fct_opportunities') }}
    group by rep_id, created_date
),

closed_opportunities as (
    select
        rep_id,
        close_date as date_day,
        {{ kpi('won_opportunities') }} as won_opportunities,
        {{ kpi('lost_opportunities') }} as lost_opportunities,
        {{ kpi('won_amount') }} as won_amount,
        {{ kpi('lost_amount') }} as lost_amount,
        {{ kpi('won_cycle_days') }} as won_cycle_days
    from {{ ref('fct_opportunities') }}
    where is_closed
    group by rep_id, close_date
),

revenue as (
    select
        rep_id,
        invoice_date as date_day,
        {{ kpi('quantity') }} as quantity,
        {{ kpi('revenue') }} as revenue,
        {{ kpi('cost') }} as cost,
        {{ kpi('gross_margin') }} as gross_margin
    from {{ ref('fct_revenue') }}
    group by rep_id, invoice_date
),

final as (
    select
        cast(rep_days.date_day as date) as date_day,
        rep_days.rep_id,
        team_history.team_id,
        team_history.region_id,
        rep_days.is_working_day,
        cast(coalesce(activities.calls, 0) as integer) as calls,
        cast(coalesce(activities.emails, 0) as integer) as emails,
        cast(coalesce(activities.meetings, 0) as integer) as meetings,
        cast(coalesce(activities.meetings_held, 0) as integer) as meetings_held,
        cast(coalesce(activities.proposals, 0) as integer) as proposals,
        cast(coalesce(activities.quotes, 0) as integer) as quotes,
        cast(coalesce(activities.contracts, 0) as integer) as contracts,
        cast(coalesce(activities.activities, 0) as integer) as activities,
        cast(coalesce(new_opportunities.new_opportunities, 0) as integer) as new_opportunities,
        cast(coalesce(closed_opportunities.won_opportunities, 0) as integer)
            as won_opportunities,
        cast(coalesce(closed_opportunities.lost_opportunities, 0) as integer)
            as lost_opportunities,
        cast(coalesce(closed_opportunities.won_amount, 0) as decimal(18, 2)) as won_amount,
        cast(coalesce(closed_opportunities.lost_amount, 0) as decimal(18, 2)) as lost_amount,
        cast(coalesce(closed_opportunities.won_cycle_days, 0) as integer) as won_cycle_days,
        cast(coalesce(revenue.quantity, 0) as decimal(18, 3)) as quantity,
        cast(coalesce(revenue.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(revenue.cost, 0) as decimal(18, 2)) as cost,
        cast(coalesce(revenue.gross_margin, 0) as decimal(18, 2)) as gross_margin
    from rep_days
    left join team_history
        on
            rep_days.rep_id = team_history.rep_id
            and rep_days.date_day >= team_history.valid_from
            and rep_days.date_day < team_history.valid_to
    left join activities
        on rep_days.rep_id = activities.rep_id and rep_days.date_day = activities.date_day
    left join new_opportunities
        on
            rep_days.rep_id = new_opportunities.rep_id
            and rep_days.date_day = new_opportunities.date_day
    left join closed_opportunities
        on
            rep_days.rep_id = closed_opportunities.rep_id
            and rep_days.date_day = closed_opportunities.date_day
    left join revenue
        on rep_days.rep_id = revenue.rep_id and rep_days.date_day = revenue.date_day
)

select * from final
