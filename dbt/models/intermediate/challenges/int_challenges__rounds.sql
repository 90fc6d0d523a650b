-- One row per challenge and round: the calendar day, ISO week, month or quarter slices of the
-- challenge period (clipped to it), or the whole period as one round.
with

definitions as (
    select * from {{ ref('int_challenges__definitions') }}
),

calendar as (
    {{ date_spine(
        '(select min(period_start) from definitions)',
        '(select max(period_end) from definitions)'
    ) }}
),

challenge_days as (
    select
        definitions.challenge_id,
        definitions.round_grain,
        definitions.period_start,
        definitions.period_end,
        calendar.date_day
    from definitions
    inner join calendar
        on calendar.date_day between definitions.period_start and definitions.period_end
),

day_rounds as (
    select
        challenge_id,
        period_start,
        period_end,
        date_day,
        case round_grain
            when 'day' then date_day
            when 'week' then {{ period_start('week', 'date_day') }}
            when 'month' then {{ period_start('month', 'date_day') }}
            when 'quarter' then {{ period_start('quarter', 'date_day') }}
            else period_start
        end as calendar_round_start
    from challenge_days
),

rounds as (
    select
        challenge_id,
        calendar_round_start,
        min(date_day) as round_start,
        max(date_day) as round_end
    from day_rounds
    group by challenge_id, calendar_round_start
),

final as (
    select
        challenge_id,
        row_number() over (partition by challenge_id order by round_start) as round_number,
        round_start,
        round_end,
        calendar_round_start,
        {{ dbt.datediff('round_start', 'round_end', 'day') }} + 1 as round_days  -- noqa: LT05
    from rounds
)

select * from final
