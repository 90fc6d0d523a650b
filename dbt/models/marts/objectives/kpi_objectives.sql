-- One row per level (rep: an account executive in a team; team: the team's own objective),
-- member, metric and period (month, quarter): target in force, actual to the as-of date and the
-- pacing KPIs. Targets are spread over the working days of their period (int_targets__days):
-- a rep's row covers the working days they were in that team (joiners and movers are prorated);
-- a team's actual is the facts of its reps on the days they were in it. A period without a
-- target of its own grain uses the targets of the other grain (a team's month: its share of the
-- quarter target by working days; a rep's quarter: the sum of its month targets), see
-- target_source. The KPI columns and the status thresholds come from the KPI catalogue
-- (dbt/kpis.yml, grain objectives).
-- Ranks (the rep's "3rd of 8", which a rep's row-level security cannot compute in Superset):
-- by attainment, best first, per level, metric and period. Only rows with a non-zero target and
-- an attainment are ranked (and counted in ranked_in_*); ties share the better rank and the next
-- is skipped (1, 1, 3), on the attainment rounded as stored. In the team: a rep's row among the
-- rep rows of that team (a mover is ranked in each team on the part of the period spent there).
-- In the company: a rep's whole period (all their rows: sum of actuals / sum of targets), among
-- all reps; a team among the teams. Team rows have no rank in a team.
{%- set metrics = [
    ('revenue', 'revenue'), ('gross_margin', 'gross_margin'), ('calls', 'calls'),
    ('meetings', 'meetings_held'), ('new_opportunities', 'new_opportunities')
] %}
{%- set grains = ['month', 'quarter'] %}

with

availability as (
    {{ data_availability() }}
),

member_periods as (
    select
        member_periods.*,
        availability.*
    from {{ ref('int_objectives__member_periods') }} as member_periods
    cross join availability
),

target_days as (
    select
        *,
        date_day <= {{ as_of_date() }} as is_elapsed
    from {{ ref('int_targets__days') }}
),

-- (the linter misreads the indentation of these loops' bodies)
-- noqa: disable=LT02
target_periods_by_source as (
    {%- for grain in grains %}
    select
        level,
        member_id,
        team_id,
        metric,
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'date_day') }} as period_start,
        period_type as target_source,
        {{ kpi('objective_target') }} as target,  -- noqa: RF04
        {{ kpi('prorated_target_to_date') }} as prorated_target_to_date,
        -- the shares' 12-decimal remainders rounded away, as prorated_target_to_date's
        round(sum(case when is_elapsed then daily_target_calendar else 0 end), 8)
            as prorated_target_to_date_calendar
    from target_days
    group by  -- noqa: RF04
        level, member_id, team_id, metric, {{ period_start(grain, 'date_day') }}, period_type
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

ranked_sources as (
    -- targets set for the period's own grain win over the other grain's
    select
        *,
        min(case when target_source = period_grain then 0 else 1 end) over (
            partition by level, member_id, metric, period_grain, period_start
        ) as best_source_rank,
        case when target_source = period_grain then 0 else 1 end as source_rank
    from target_periods_by_source
),

target_periods as (
    select * from ranked_sources
    where source_rank = best_source_rank
),

actuals as (
    {%- for metric, measure in metrics %}
    select
        level,
        member_id,
        team_id,
        period_grain,
        period_start,
        period_end,
        first_member_day,
        last_member_day,
        working_days,
        elapsed_working_days,
        '{{ metric }}' as metric,
        {{ if_available(measure, 'cast(' ~ measure ~ ' as ' ~ type_double() ~ ')') }} as actual
    from member_periods
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
-- noqa: enable=LT02

pipeline as (
    select
        level,
        member_id,
        period_grain,
        period_start,
        open_in_period_pipeline
    from {{ ref('kpi_performance') }}
    where level in ('rep', 'team') and period_grain in ('month', 'quarter')
),

joined as (
    select
        actuals.*,
        target_periods.target_source,
        target_periods.target,
        target_periods.prorated_target_to_date,
        target_periods.prorated_target_to_date_calendar,
        -- the pipeline is the member's on the period's snapshot day: a mover's is on the row of
        -- the team they are in that day
        case
            when
                actuals.metric = 'revenue'
                and actuals.first_member_day <= {{ as_of_date() }}
                and (
                    actuals.last_member_day >= {{ as_of_date() }}
                    or actuals.last_member_day = actuals.period_end
                )
                then pipeline.open_in_period_pipeline
        end as open_in_period_pipeline
    from actuals
    left join target_periods
        on
            {{ same_member_period('actuals', 'target_periods') }}
            and actuals.metric = target_periods.metric
    left join pipeline
        on
            actuals.level = pipeline.level
            and actuals.member_id = pipeline.member_id
            and actuals.period_grain = pipeline.period_grain
            and actuals.period_start = pipeline.period_start
    where target_periods.target is not null or actuals.period_start <= {{ as_of_date() }}
),

paced as (
    select
        *,
        {{ kpi('pace') }} as pace,
        working_days - elapsed_working_days as remaining_working_days
    from joined
),

named as (
    select
        paced.*,
        coalesce(reps.rep_name, teams.team_name) as member_name,
        teams.team_name
    from paced
    left join {{ ref('dim_rep') }} as reps
        on paced.level = 'rep' and paced.member_id = reps.rep_id
    left join {{ ref('dim_team') }} as teams
        on paced.team_id = teams.team_id
),

final as (
    select
        level,
        member_id,
        cast(member_name as {{ dbt.type_string() }}) as member_name,
        team_id,
        team_name,
        metric,
        period_grain,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        target_source,
        cast(target as decimal(18, 2)) as target,  -- noqa: RF04
        cast(actual as decimal(18, 2)) as actual,
        {{ kpi('attainment') }} as attainment,
        cast(working_days as integer) as working_days,
        cast(elapsed_working_days as integer) as elapsed_working_days,
        cast(remaining_working_days as integer) as remaining_working_days,
        cast(prorated_target_to_date as decimal(18, 2)) as prorated_target_to_date,
        cast(prorated_target_to_date_calendar as decimal(18, 2))
            as prorated_target_to_date_calendar,
        pace,
        case
            when target is null or target = 0 then 'no target'
            when actual is null then 'unavailable'
            when pace is null then 'not started'
            when pace >= {{ kpi_threshold('pace', 'green') }} then 'on track'
            when pace <= {{ kpi_threshold('pace', 'red') }} then 'off track'
            else 'at risk'
        end as status,
        {{ kpi('run_rate_projection') }} as run_rate_projection,
        {{ kpi('required_daily_rate') }} as required_daily_rate,
        cast({{ kpi('gap') }} as decimal(18, 2)) as gap,
        {{ kpi('gap_pct') }} as gap_pct,
        cast(open_in_period_pipeline as decimal(18, 2)) as open_in_period_pipeline,
        {{ kpi('pipeline_coverage') }} as pipeline_coverage,
        {{ as_of_date() }} as as_of_date
    from named
),

rankable as (
    select * from final
    where target <> 0 and attainment is not null
),

team_ranks as (
    select
        member_id,
        team_id,
        metric,
        period_grain,
        period_start,
        rank() over (
            partition by team_id, metric, period_grain, period_start order by attainment desc
        ) as rank_in_team,
        count(*) over (partition by team_id, metric, period_grain, period_start)
            as ranked_in_team
    from rankable
    where level = 'rep'
),

member_period_attainment as (
    -- a mover's rows of every team together
    select
        level,
        member_id,
        metric,
        period_grain,
        period_start,
        {{ round_ratio(
            'cast(sum(actual) as ' ~ type_double() ~ ') / cast(sum(target) as '
            ~ type_double() ~ ')'
        ) }} as period_attainment
    from rankable
    group by level, member_id, metric, period_grain, period_start
),

company_ranks as (
    select
        level,
        member_id,
        metric,
        period_grain,
        period_start,
        rank() over (
            partition by level, metric, period_grain, period_start
            order by period_attainment desc
        ) as rank_in_company,
        count(*) over (partition by level, metric, period_grain, period_start)
            as ranked_in_company
    from member_period_attainment
),

ranked as (
    select
        final.*,
        cast(team_ranks.rank_in_team as integer) as rank_in_team,
        cast(team_ranks.ranked_in_team as integer) as ranked_in_team,
        cast(company_ranks.rank_in_company as integer) as rank_in_company,
        cast(company_ranks.ranked_in_company as integer) as ranked_in_company
    from final
    left join team_ranks
        on
            final.level = 'rep'
            and final.target <> 0
            and final.attainment is not null
            and final.member_id = team_ranks.member_id
            and final.team_id = team_ranks.team_id
            and final.metric = team_ranks.metric
            and final.period_grain = team_ranks.period_grain
            and final.period_start = team_ranks.period_start
    left join company_ranks
        on
            final.target <> 0
            and final.attainment is not null
            and final.level = company_ranks.level
            and final.member_id = company_ranks.member_id
            and final.metric = company_ranks.metric
            and final.period_grain = company_ranks.period_grain
            and final.period_start = company_ranks.period_start
)

select * from ranked
