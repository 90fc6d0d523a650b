-- sqlfluff:indentation:template_blocks_indent:False
-- (sqlfluff: the Jinja loops below write one select per period grain or level, unindented.)
-- One row per level (rep, team, region, company), member and period (day, week, month,
-- quarter) up to the as-of date: activity, opportunity and revenue sums to date, the pipeline
-- at the period's end (the as-of date for the current period), the previous period's sums up
-- to the same elapsed point, the same period a year earlier up to the same point (the headline
-- measures), and every KPI as a ratio of those sums (never an average of ratios).
-- Facts stay with the team and region the rep belonged to on the day of the event
-- (kpi_rep_day); the pipeline with the owner's team on the snapshot day. Facts of nobody, or of a
-- day without a team, are under the member "(unassigned)" of their level: every level adds up
-- to the company. A KPI the company's data cannot give is null on every row (if_available,
-- marts.kpi_availability), never 0.
-- Every KPI's formula comes from the KPI catalogue (dbt/kpis.yml) through kpi().
{%- set measures = additive_measures() %}
{%- set pipeline_measures = [
    'open_opportunities', 'open_qualified_opportunities', 'open_pipeline', 'weighted_pipeline',
    'open_in_period_pipeline'
] %}
{%- set prev_measures = [] %}
{%- for m in measures %}{% do prev_measures.append(m ~ '_prev_same_point') %}{% endfor %}
{#- Last year: the headline measures only (each one more column in every union below). #}
{%- set last_year_base = [
    'activities', 'won_opportunities', 'won_amount', 'revenue', 'gross_margin'
] %}
{%- set last_year_measures = [] %}
{%- for m in last_year_base %}
{%- do last_year_measures.append(m ~ '_last_year_same_point') %}
{%- endfor %}
{#- (suffix, periods back, measures): the previous period, and the same period a year earlier
    (52 weeks and 364 days back: the same weekday). #}
{%- set comparisons = [
    ('_prev_same_point', {'day': 1, 'week': 1, 'month': 1, 'quarter': 1}, measures),
    ('_last_year_same_point', {'day': 364, 'week': 52, 'month': 12, 'quarter': 4},
        last_year_base)
] %}
{%- set compared = prev_measures + last_year_measures %}
{%- set summed = measures + compared + pipeline_measures %}
{%- set money_measures = [
    'won_amount', 'lost_amount', 'revenue', 'cost', 'gross_margin'
] %}

with

availability as (
    {{ data_availability() }}
),

rep_days as (
    select * from {{ ref('kpi_rep_day') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

teams as (
    select * from {{ ref('dim_team') }}
),

regions as (
    select * from {{ ref('dim_region') }}
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

calendar as (
    select
        date_day,
        is_working_day
    from {{ ref('dim_date') }}
    where date_day <= {{ as_of_date() }}
),

period_days as (
    {%- for grain in period_grains() %}
    select
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'date_day') }} as period_start,
        {{ period_end(grain, period_start(grain, 'date_day')) }} as period_end,
        is_working_day
    from calendar
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

periods as (
    select
        period_grain,
        period_start,
        period_end,
        sum(case when is_working_day then 1 else 0 end) as working_days,
        case
            when period_end < {{ as_of_date() }} then period_end
            else {{ as_of_date() }}
        end as snapshot_date
    from period_days
    group by period_grain, period_start, period_end
),

-- The elapsed point: how many days into the period the as-of date (or, for a past period, its
-- last day) is. The previous period is compared up to the same offset from its start.
elapsed as (
    select
        *,
        {{ dbt.datediff('period_start', 'snapshot_date', 'day') }} as elapsed_offset  -- noqa: LT05
    from periods
),

current_sums as (
    {%- for grain in period_grains() %}
    select
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        {%- for measure in compared + pipeline_measures %}
        0 as {{ measure }},
        {%- endfor %}
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'date_day') }} as period_start,
        rep_id,
        team_id,
        region_id
    from rep_days
    group by {{ period_start(grain, 'date_day') }}, rep_id, team_id, region_id
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- Each day of a period counts for a LATER period's comparison (the next period; the same
-- period a year later) when it lies no further from its period's start than the later period's
-- elapsed point (month-to-date against the same days of the previous month, clamped to its
-- length; same weekday for weeks; the previous day for days). An equality join on the small
-- periods table per grain: no range join over the days.
compared_sums as (
    {%- for suffix, steps, compared_measures in comparisons %}
    {%- set outer_loop = loop %}
    {%- for grain in period_grains() %}
    select
        {%- for measure in measures %}
        0 as {{ measure }},
        {%- endfor %}
        {%- for measure in compared %}
        {%- set base = measure.replace(suffix, '') %}
        {%- if measure.endswith(suffix) and base in compared_measures %}
        sum(rep_days.{{ base }}) as {{ measure }},
        {%- else %}
        0 as {{ measure }},
        {%- endif %}
        {%- endfor %}
        {%- for measure in pipeline_measures %}
        0 as {{ measure }},
        {%- endfor %}
        '{{ grain }}' as period_grain,
        later_periods.period_start,
        rep_days.rep_id,
        rep_days.team_id,
        rep_days.region_id
    from rep_days
    inner join elapsed as later_periods
        on
            later_periods.period_grain = '{{ grain }}'
            and later_periods.period_start
            = {{ period_shift(grain, period_start(grain, 'rep_days.date_day'), steps[grain]) }}
    where
        {{ dbt.datediff(period_start(grain, 'rep_days.date_day'), 'rep_days.date_day', 'day') }}
        <= later_periods.elapsed_offset
    group by
        later_periods.period_start, rep_days.rep_id, rep_days.team_id, rep_days.region_id
    {%- if not (loop.last and outer_loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
),

-- Open opportunities at the end of the period's snapshot day, with the owner's team that day
-- (whoever the owner is; an opportunity without stage history is open from its creation to its
-- close, fct_opportunity_history).
open_opportunities as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        coalesce(history.rep_id, {{ unassigned_id() }}) as rep_id,
        coalesce(team_history.team_id, {{ unassigned_id() }}) as team_id,
        coalesce(team_history.region_id, {{ unassigned_id() }}) as region_id,
        history.stage_order,
        history.amount,
        history.probability,
        history.close_date
    from periods
    inner join {{ ref('fct_opportunity_history') }} as history
        on
            periods.snapshot_date >= history.valid_from
            and periods.snapshot_date < history.valid_to
    left join team_history
        on
            history.rep_id = team_history.rep_id
            and periods.snapshot_date >= team_history.valid_from
            and periods.snapshot_date < team_history.valid_to
    where not history.is_closed_stage
),

pipeline_sums as (
    select
        {%- for measure in measures + compared %}
        0 as {{ measure }},
        {%- endfor %}
        {%- for measure in pipeline_measures %}
        {{ kpi(measure) }} as {{ measure }},
        {%- endfor %}
        period_grain,
        period_start,
        rep_id,
        team_id,
        region_id
    from open_opportunities
    group by period_grain, period_start, rep_id, team_id, region_id
),

contributions as (
    select * from current_sums
    union all
    select * from compared_sums
    union all
    select * from pipeline_sums
),

by_level as (
    {{ roll_up_levels('contributions', summed, ['period_grain', 'period_start']) }}
),

joined as (
    select
        by_level.*,
        availability.*,
        elapsed.period_end,
        elapsed.working_days,
        elapsed.elapsed_offset,
        {{ member_name('by_level') }} as member_name,
        -- row-level security keys (as kpi_rep_month): the rep's own rows; a manager's reps
        -- and team
        case when by_level.level = 'rep' then reps.email end as rep_email,
        case by_level.level
            when 'rep' then reps.manager_email
            when 'team' then teams.manager_email
        end as manager_email
    from by_level
    cross join availability
    inner join elapsed
        on
            by_level.period_grain = elapsed.period_grain
            and by_level.period_start = elapsed.period_start
    left join reps
        on by_level.level = 'rep' and by_level.member_id = reps.rep_id
    left join teams
        on by_level.level = 'team' and by_level.member_id = teams.team_id
    left join regions
        on by_level.level = 'region' and by_level.member_id = regions.region_id
),

final as (
    select
        level,
        member_id,
        member_name,
        rep_email,
        manager_email,
        period_grain,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        period_end >= {{ as_of_date() }} as is_current_period,
        cast(elapsed_offset + 1 as integer) as elapsed_days,
        cast(working_days as integer) as working_days,
        {%- for measure in measures + compared %}
        {%- set kpi_name = measure.split('_prev')[0].split('_last_year')[0] %}
        {%- if measure.startswith('quantity') %}
        {%- set column_type = 'decimal(18, 3)' %}
        {%- elif kpi_name in money_measures %}
        {%- set column_type = 'decimal(18, 2)' %}
        {%- else %}
        {%- set column_type = 'integer' %}
        {%- endif %}
        cast({{ if_available(kpi_name, measure) }} as {{ column_type }}) as {{ measure }},
        {%- endfor %}
        {%- for measure, column_type in [
            ('open_opportunities', 'integer'), ('open_qualified_opportunities', 'integer'),
            ('open_pipeline', 'decimal(18, 2)'), ('weighted_pipeline', 'decimal(18, 2)'),
            ('open_in_period_pipeline', 'decimal(18, 2)')
        ] %}
        cast({{ if_available(measure, measure) }} as {{ column_type }}) as {{ measure }},
        {%- endfor %}
        {%- for kpi_name in [
            'activities_per_working_day', 'meetings_per_working_day', 'calls_to_meetings',
            'meetings_to_opportunities', 'proposals_to_won', 'quotes_to_won', 'win_rate',
            'win_rate_by_value', 'average_deal_size', 'sales_cycle_days', 'sales_velocity',
            'margin_pct', 'revenue_growth_same_point', 'activities_growth_same_point',
            'won_amount_growth_same_point', 'revenue_growth_last_year',
            'gross_margin_growth_last_year', 'activities_growth_last_year',
            'won_amount_growth_last_year'
        ] %}
        {{ if_available(kpi_name, kpi(kpi_name)) }} as {{ kpi_name }},
        {%- endfor %}
        {{ as_of_date() }} as as_of_date
    from joined
)

select * from final
