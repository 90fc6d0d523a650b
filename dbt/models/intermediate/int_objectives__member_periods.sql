-- One row per objectives member (rep per team, or team), month or quarter: its working days
-- (the days the rep was in the team), elapsed working days and the facts summed up to the
-- as-of date. A rep who changes team mid-period has one row per team.
{%- set grains = ['month', 'quarter'] %}

with

member_days as (
    select * from {{ ref('int_objectives__member_days') }}
),

-- (the linter misreads the indentation of this loop's body)
-- noqa: disable=LT02
periods as (
    {%- for grain in grains %}
    select
        sum(case when is_elapsed then revenue else 0 end) as revenue,
        sum(case when is_elapsed then gross_margin else 0 end) as gross_margin,
        sum(case when is_elapsed then calls else 0 end) as calls,
        sum(case when is_elapsed then meetings_held else 0 end) as meetings_held,
        sum(case when is_elapsed then new_opportunities else 0 end) as new_opportunities,
        sum(case when is_elapsed then won_opportunities else 0 end) as won_opportunities,
        sum(case when is_elapsed then won_amount else 0 end) as won_amount,
        level,
        member_id,
        team_id,
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'date_day') }} as period_start,
        min(date_day) as first_member_day,
        max(date_day) as last_member_day,
        sum(case when is_working_day then 1 else 0 end) as working_days,
        sum(case when is_working_day and is_elapsed then 1 else 0 end) as elapsed_working_days
    from member_days
    group by
        level, member_id, team_id, {{ period_start(grain, 'date_day') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
-- noqa: enable=LT02

final as (
    select
        *,
        case
            when period_grain = 'quarter' then {{ period_end('quarter', 'period_start') }}
            else {{ period_end('month', 'period_start') }}
        end as period_end
    from periods
)

select * from final
