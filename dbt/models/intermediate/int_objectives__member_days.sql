-- One row per objectives member (level 'rep': an account executive, per team they were in that
-- day; level 'team': a team) and calendar day, with the day's facts up to the as-of date.
-- A rep counts only on the days they belong to a team (int_reps__team_history: from the hire
-- date, one team at a time), so a rep who joins or changes team mid-period has a partial
-- period per team; a team's actuals are the facts of its reps on the days they were in it.
with

-- the days objectives can concern: up to the end of the as-of quarter or of the last
-- objective's period (a fact dated decades ahead stretches dim_date, not the objectives)
calendar_bounds as (
    select {{ period_end('quarter', period_start('quarter', as_of_date())) }} as last_day
    union all
    select max(period_end) as last_day from {{ ref('int_targets__versions') }}
),

calendar_end as (
    select max(last_day) as last_day from calendar_bounds
),

calendar as (
    select
        dim_date.date_day,
        dim_date.is_working_day,
        dim_date.date_day <= {{ as_of_date() }} as is_elapsed
    from {{ ref('dim_date') }} as dim_date
    inner join calendar_end
        on dim_date.date_day <= calendar_end.last_day
),

reps as (
    select rep_id from {{ ref('dim_rep') }}
    where role_type = 'rep'
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

rep_day_facts as (
    select * from {{ ref('kpi_rep_day') }}
),

team_day_facts as (
    select
        team_id,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        sum(calls) as calls,
        sum(meetings_held) as meetings_held,
        sum(new_opportunities) as new_opportunities,
        sum(won_opportunities) as won_opportunities,
        sum(won_amount) as won_amount,
        date_day
    from rep_day_facts
    where team_id != {{ unassigned_id() }}
    group by team_id, date_day
),

rep_days as (
    select
        'rep' as level,  -- noqa: RF04
        rep_day_facts.revenue,
        rep_day_facts.gross_margin,
        rep_day_facts.calls,
        rep_day_facts.meetings_held,
        rep_day_facts.new_opportunities,
        rep_day_facts.won_opportunities,
        rep_day_facts.won_amount,
        team_history.rep_id as member_id,
        team_history.team_id,
        calendar.date_day,
        calendar.is_working_day,
        calendar.is_elapsed
    from team_history
    inner join reps
        on team_history.rep_id = reps.rep_id
    inner join calendar
        on
            team_history.valid_from <= calendar.date_day
            and team_history.valid_to > calendar.date_day
    left join rep_day_facts
        on
            team_history.rep_id = rep_day_facts.rep_id
            and calendar.date_day = rep_day_facts.date_day
),

team_days as (
    select
        'team' as level,  -- noqa: RF04
        team_day_facts.revenue,
        team_day_facts.gross_margin,
        team_day_facts.calls,
        team_day_facts.meetings_held,
        team_day_facts.new_opportunities,
        team_day_facts.won_opportunities,
        team_day_facts.won_amount,
        teams.team_id as member_id,
        teams.team_id,
        calendar.date_day,
        calendar.is_working_day,
        calendar.is_elapsed
    from {{ ref('dim_team') }} as teams
    cross join calendar
    left join team_day_facts
        on
            teams.team_id = team_day_facts.team_id
            and calendar.date_day = team_day_facts.date_day
),

member_days as (
    select * from rep_days
    union all
    select * from team_days
),

final as (
    select
        level,
        member_id,
        team_id,
        date_day,
        is_working_day,
        coalesce(revenue, 0) as revenue,
        coalesce(gross_margin, 0) as gross_margin,
        coalesce(calls, 0) as calls,
        coalesce(meetings_held, 0) as meetings_held,
        coalesce(new_opportunities, 0) as new_opportunities,
        coalesce(won_opportunities, 0) as won_opportunities,
        coalesce(won_amount, 0) as won_amount,
        is_elapsed
    from member_days
)

select * from final
