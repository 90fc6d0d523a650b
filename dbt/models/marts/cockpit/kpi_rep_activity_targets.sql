-- One row per rep (level rep of kpi_performance) and period (week, month) up to the as-of date:
-- the rep's activities (calls, meetings held, proposals, quotes, contracts, new opportunities)
-- beside their targets where the company sets one. Targets exist for calls, meetings (held) and
-- new opportunities only: proposals, quotes and contracts have no target column (never 0).
-- A target is the sum over the period's days of the daily shares of the rep's MONTHLY targets
-- (int_targets__days: a month target spread evenly over its working days, on the days the rep
-- is in a team), so a month's target is the month target and a week's target is the month
-- target x the week's working days / the month's working days, both months' shares for a week
-- across two months. No monthly target on a day: no share that day; none in the period: null.
-- The team and the manager's e-mail are the rep's current ones (row-level security).

with

performance as (
    select * from {{ ref('kpi_performance') }}
    where level = 'rep' and period_grain in ('week', 'month')
),

reps as (
    select * from {{ ref('dim_rep') }}
),

daily_targets as (
    select
        member_id as rep_id,
        metric,
        date_day,
        daily_target
    from {{ ref('int_targets__days') }}
    where level = 'rep' and period_type = 'month'
),

period_targets as (
    select
        performance.member_id,
        performance.period_grain,
        performance.period_start,
        sum(case when daily_targets.metric = 'calls' then daily_targets.daily_target end)
            as calls_target,
        sum(case when daily_targets.metric = 'meetings' then daily_targets.daily_target end)
            as meetings_target,
        sum(
            case when daily_targets.metric = 'new_opportunities' then daily_targets.daily_target end
        ) as new_opportunities_target
    from performance
    inner join daily_targets
        on
            performance.member_id = daily_targets.rep_id
            and daily_targets.date_day between performance.period_start and performance.period_end
    group by performance.member_id, performance.period_grain, performance.period_start
),

final as (
    select
        performance.member_id as rep_id,
        performance.member_name as rep_name,
        reps.team_id,
        reps.team_name,
        performance.period_grain,
        performance.period_start,
        performance.period_end,
        performance.is_current_period,
        performance.working_days,
        performance.calls,
        cast(period_targets.calls_target as decimal(18, 2)) as calls_target,
        performance.meetings_held,
        cast(period_targets.meetings_target as decimal(18, 2)) as meetings_target,
        performance.proposals,
        performance.quotes,
        performance.contracts,
        performance.new_opportunities,
        cast(
            period_targets.new_opportunities_target as decimal(18, 2)
        ) as new_opportunities_target,
        performance.rep_email,
        performance.manager_email,
        performance.as_of_date
    from performance
    left join reps
        on performance.member_id = reps.rep_id
    left join period_targets
        on
            performance.member_id = period_targets.member_id
            and performance.period_grain = period_targets.period_grain
            and performance.period_start = period_targets.period_start
)

select * from final
