-- The driver tree of revenue: one row per level (rep in a team, team), member and period
-- (month, quarter) with a revenue target, splitting the gap to date (revenue - target prorated
-- to the as-of date) exactly into four parts that add up to it:
--   bookings - target = volume + conversion + deal size (LMDI, log-mean Divisia index), with
--     bookings = meetings held x (won deals / meeting held) x (won amount / won deal)
--     target   = target meetings x norm conversion x norm deal size, the norms being the team's
--                (else the company's) over the 6 months before the period;
--   revenue - bookings = invoicing timing (invoices and credit notes of deals won in another
--     period).
-- Method, zero cases and a worked example: docs/driver_tree.md.
with

objectives as (
    select * from {{ ref('kpi_objectives') }}
    where metric = 'revenue' and prorated_target_to_date > 0
),

member_periods as (
    select * from {{ ref('int_objectives__member_periods') }}
),

team_months as (
    select
        team_id,
        period_start as month_start,
        meetings_held,
        won_opportunities,
        won_amount
    from member_periods
    where level = 'team' and period_grain = 'month'
),

-- the team months in the 6 months before each period start
window_months as (
    select
        periods.period_start,
        team_months.team_id,
        team_months.meetings_held,
        team_months.won_opportunities,
        team_months.won_amount
    from (select distinct period_start from objectives) as periods
    inner join team_months
        on
            team_months.month_start >= {{ period_shift('month', 'periods.period_start', -6) }}
            and periods.period_start > team_months.month_start
),

-- norm sums per team, and for the company (team_id null)
trailing_sums as (
    select
        team_id,
        period_start,
        sum(meetings_held) as meetings_held,
        sum(won_opportunities) as won_opportunities,
        sum(won_amount) as won_amount
    from window_months
    group by team_id, period_start
    union all
    select
        null as team_id,
        period_start,
        sum(meetings_held) as meetings_held,
        sum(won_opportunities) as won_opportunities,
        sum(won_amount) as won_amount
    from window_months
    group by period_start
),

usable as (
    -- a norm needs meetings, won deals and bookings in the window
    select * from trailing_sums
    where meetings_held > 0 and won_opportunities > 0 and won_amount > 0
),

team_periods as (
    select distinct
        team_id,
        period_start
    from objectives
),

norms as (
    -- per team and period start: the team's norm, else the company's; none when neither has
    -- one (no target-implied driver values: not decomposed)
    select
        team_periods.team_id,
        team_periods.period_start,
        case
            when team_norm.period_start is not null then 'team'
            when company_norm.period_start is not null then 'company'
        end as norm_source,
        coalesce(team_norm.meetings_held, company_norm.meetings_held) as meetings_held,
        coalesce(team_norm.won_opportunities, company_norm.won_opportunities)
            as won_opportunities,
        coalesce(team_norm.won_amount, company_norm.won_amount) as won_amount
    from team_periods
    left join usable as team_norm
        on
            team_periods.team_id = team_norm.team_id
            and team_periods.period_start = team_norm.period_start
    left join usable as company_norm
        on
            company_norm.team_id is null
            and team_periods.period_start = company_norm.period_start
),

factors as (
    select
        objectives.level,
        objectives.member_id,
        objectives.member_name,
        objectives.team_id,
        objectives.team_name,
        objectives.period_grain,
        objectives.period_start,
        cast(objectives.actual as {{ type_double() }}) as revenue,
        cast(objectives.prorated_target_to_date as {{ type_double() }}) as target_to_date,
        cast(member_periods.meetings_held as {{ type_double() }}) as meetings_held,
        cast(member_periods.won_opportunities as {{ type_double() }}) as won_opportunities,
        cast(member_periods.won_amount as {{ type_double() }}) as bookings,
        norms.norm_source,
        cast(norms.won_opportunities as {{ type_double() }})
        / norms.meetings_held as norm_conversion_rate,
        cast(norms.won_amount as {{ type_double() }}) / norms.won_opportunities as norm_deal_size
    from objectives
    inner join member_periods
        on {{ same_member_period('objectives', 'member_periods') }}
    inner join norms
        on
            objectives.team_id = norms.team_id
            and objectives.period_start = norms.period_start
),

driver_values as (
    select
        *,
        target_to_date / (norm_conversion_rate * norm_deal_size) as target_meetings_held,
        case when meetings_held > 0 then won_opportunities / meetings_held end as conversion_rate,
        case when won_opportunities > 0 then bookings / won_opportunities end as deal_size,
        -- the LMDI weight L(bookings, target): the log mean, bookings itself when they are equal
        case
            when bookings > 0 and bookings <> target_to_date
                then (bookings - target_to_date) / (ln(bookings) - ln(target_to_date))
            when bookings > 0 then bookings
        end as log_mean
    from factors
),

parts as (
    select
        *,
        case
            when norm_source is null then null
            when bookings > 0 and meetings_held > 0
                then log_mean * ln(meetings_held / target_meetings_held)
            -- deals won without a meeting held: volume and conversion cannot be told apart,
            -- the won deals against the target's are conversion
            when bookings > 0 then 0
            -- no bookings: the first factor that is zero takes the whole gap (the LMDI limit)
            when meetings_held = 0 then bookings - target_to_date
            else 0
        end as volume_effect,
        case
            when norm_source is null then null
            when bookings > 0 and meetings_held > 0
                then log_mean * ln(conversion_rate / norm_conversion_rate)
            when bookings > 0
                then
                    log_mean
                    * ln(won_opportunities / (target_meetings_held * norm_conversion_rate))
            when meetings_held > 0 and won_opportunities = 0 then bookings - target_to_date
            else 0
        end as conversion_effect,
        case
            when norm_source is null then null
            when bookings > 0 then log_mean * ln(deal_size / norm_deal_size)
            when meetings_held > 0 and won_opportunities > 0 then bookings - target_to_date
            else 0
        end as deal_size_effect
    from driver_values
),

rounded as (
    -- effects in cents; deal size takes the rounding (under a cent) so the parts add up exactly
    select
        *,
        cast(volume_effect as decimal(18, 2)) as volume_cents,
        cast(conversion_effect as decimal(18, 2)) as conversion_cents,
        cast(bookings as decimal(18, 2)) - cast(target_to_date as decimal(18, 2)) as booking_gap
    from parts
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
        cast(target_to_date as decimal(18, 2)) as target_to_date,
        cast(
            cast(revenue as decimal(18, 2)) - cast(target_to_date as decimal(18, 2))
            as decimal(18, 2)
        ) as gap_to_date,
        cast(bookings as decimal(18, 2)) as bookings,
        cast(meetings_held as integer) as meetings_held,
        target_meetings_held,
        cast(won_opportunities as integer) as won_opportunities,
        conversion_rate,
        norm_conversion_rate,
        deal_size,
        norm_deal_size,
        norm_source,
        volume_cents as volume_effect,
        conversion_cents as conversion_effect,
        cast(
            case
                when norm_source is not null then booking_gap - volume_cents - conversion_cents
            end as decimal(18, 2)
        ) as deal_size_effect,
        cast({{ kpi('invoicing_timing_effect') }} as decimal(18, 2)) as invoicing_timing_effect,
        case
            when norm_source is null then null
            -- the most negative effect; none when no effect is negative
            when least(volume_effect, conversion_effect, deal_size_effect) >= 0 then null
            when
                volume_effect <= conversion_effect and volume_effect <= deal_size_effect
                then 'volume'
            when conversion_effect <= deal_size_effect then 'conversion'
            else 'deal size'
        end as weakest_driver,
        {{ as_of_date() }} as as_of_date
    from rounded
)

select * from final
