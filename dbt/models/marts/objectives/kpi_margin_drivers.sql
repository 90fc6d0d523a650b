-- The margin driver tree: one row per level (rep in a team, team), member and period (month,
-- quarter) with a revenue and a gross margin target due to date, splitting the margin gap to
-- date exactly into a revenue (volume) effect and a margin-rate (price) effect:
--   margin - margin target = (revenue - revenue target) x target margin rate   revenue effect
--                          + (margin - revenue x target margin rate)           margin rate effect
-- with target margin rate = margin target / revenue target (a variance split in that order:
-- exact for any sign, no log needed). The product mix is not split out. See docs/driver_tree.md.
with

objectives as (
    select * from {{ ref('kpi_objectives') }}
    where metric in ('revenue', 'gross_margin') and prorated_target_to_date > 0
),

paired as (
    select
        revenue.level,
        revenue.member_id,
        revenue.member_name,
        revenue.team_id,
        revenue.team_name,
        revenue.period_grain,
        revenue.period_start,
        revenue.actual as revenue,
        revenue.prorated_target_to_date as revenue_target_to_date,
        margin.actual as gross_margin,
        margin.prorated_target_to_date as gross_margin_target_to_date,
        cast(margin.prorated_target_to_date as {{ type_double() }})
        / cast(revenue.prorated_target_to_date as {{ type_double() }}) as target_margin_rate
    from objectives as revenue
    inner join objectives as margin
        on {{ same_member_period('revenue', 'margin') }}
    where revenue.metric = 'revenue' and margin.metric = 'gross_margin'
),

effects as (
    select
        *,
        cast({{ kpi('revenue_effect') }} as decimal(18, 2)) as revenue_effect,
        cast(gross_margin - gross_margin_target_to_date as decimal(18, 2)) as gap_to_date
    from paired
),

final as (
    select
        level,
        member_id,
        member_name,
        team_id,
        team_name,
        period_grain,
        cast(period_start as date) as period_start,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(revenue_target_to_date as decimal(18, 2)) as revenue_target_to_date,
        cast(gross_margin as decimal(18, 2)) as gross_margin,
        cast(gross_margin_target_to_date as decimal(18, 2)) as gross_margin_target_to_date,
        gap_to_date,
        case
            when revenue <> 0
                then
                    cast(gross_margin as {{ type_double() }})
                    / cast(revenue as {{ type_double() }})
        end as margin_rate,
        target_margin_rate,
        revenue_effect,
        -- the rest of the gap, so that the two effects add up to it to the cent
        cast({{ kpi('margin_rate_effect') }} as decimal(18, 2)) as margin_rate_effect,
        {{ as_of_date() }} as as_of_date
    from effects
)

select * from final
