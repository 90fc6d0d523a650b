-- The targets in force spread over the days of their period: one row per target and day the
-- target's member is in it, with the day's share of the target. A target is spread evenly over
-- the working days of its whole period (daily_target; daily_target_calendar: over its calendar
-- days), and a rep target only on the days the rep belongs to a team: a rep who joins mid-period
-- gets target x working days employed / working days of the period, and a rep who changes team
-- mid-period has the target split between the teams by working days. Daily shares are exact
-- decimals: a sum of them does not depend on the order the engine adds them in.
with

targets as (
    select * from {{ ref('int_targets__in_force') }}
),

calendar as (
    select * from {{ ref('dim_date') }}
),

member_days as (
    select
        level,
        member_id,
        team_id,
        date_day,
        is_working_day
    from {{ ref('int_objectives__member_days') }}
),

period_lengths as (
    select
        targets.sales_target_id,
        sum(case when calendar.is_working_day then 1 else 0 end) as period_working_days,
        count(*) as period_days
    from targets
    inner join calendar
        on calendar.date_day between targets.period_start and targets.period_end
    group by targets.sales_target_id
),

final as (
    select
        targets.sales_target_id,
        targets.target_level as level,  -- noqa: RF04
        member_days.member_id,
        member_days.team_id,
        targets.metric,
        targets.period_type,
        member_days.date_day,
        -- exact decimals (12 places), so that sums over days are the same on every build
        cast(
            case
                when member_days.is_working_day and period_lengths.period_working_days > 0
                    then targets.target_value / period_lengths.period_working_days
                else 0
            end as decimal(38, 12)
        ) as daily_target,
        cast(
            targets.target_value / period_lengths.period_days as decimal(38, 12)
        ) as daily_target_calendar
    from targets
    inner join period_lengths
        on targets.sales_target_id = period_lengths.sales_target_id
    inner join member_days
        on
            targets.target_level = member_days.level
            and coalesce(targets.rep_id, targets.team_id) = member_days.member_id
            and member_days.date_day between targets.period_start and targets.period_end
)

select * from final
