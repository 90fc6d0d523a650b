-- sqlfluff:indentation:template_blocks_indent:False
{{ config(meta={'dagster': {'ref': {'name': 'kpi_performance'}}}) }}
-- Nothing is lost between the facts and the KPI marts (a blocking gate: a difference is a bug in
-- the models, a lost join or a double count). For every month up to the as-of date and every
-- additive measure, the facts (macro fact_month_totals) equal:
--   - kpi_rep_day summed over every person,
--   - kpi_performance summed over the members of each level (rep, team, region, company): every
--     level adds up to the company, "(unassigned)" members included,
--   - kpi_rep_month summed over every person and team.
-- A KPI the company's data cannot give is null in the marts and not compared (if_available).
-- Returns one row per difference: mart, level, month, measure, the mart's and the facts' value.
{%- set measures = additive_measures() %}
{%- set rep_month_measures = [
    'calls', 'emails', 'meetings', 'proposals', 'quotes', 'contracts', 'activities', 'quantity',
    'revenue', 'cost', 'gross_margin'
] %}

with

availability as (
    {{ data_availability() }}
),

facts as (
    {{ fact_month_totals() }}
),

-- noqa: disable=LT02
rep_day as (
    select
        'kpi_rep_day' as mart,
        'all' as level,  -- noqa: RF04
        {{ month_start('date_day') }} as month_start,
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('kpi_rep_day') }}
    group by {{ month_start('date_day') }}
),

performance as (
    select
        'kpi_performance' as mart,
        level,  -- noqa: RF04
        period_start as month_start,
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('kpi_performance') }}
    where period_grain = 'month'
    group by level, period_start
),

rep_month as (
    select
        'kpi_rep_month' as mart,
        'all' as level,  -- noqa: RF04
        month_start,
        {%- for measure in measures %}
        {%- if measure in rep_month_measures %}
        sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- else %}
        cast(null as decimal(18, 3)) as {{ measure }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from {{ ref('kpi_rep_month') }}
    group by month_start
),
-- noqa: enable=LT02

mart_sums as (
    select * from rep_day
    union all
    select * from performance
    union all
    select * from rep_month
),

months as (
    select month_start from facts
    union
    select month_start from mart_sums
),

-- every mart and level against every month with a fact or a mart row
grid as (
    select distinct
        mart_sums.mart,
        mart_sums.level,
        months.month_start
    from mart_sums
    cross join months
),

-- noqa: disable=LT02
differences as (
    {%- for measure in measures %}
    {%- if measure in rep_month_measures %}
    {%- set marts_compared = "('kpi_rep_day', 'kpi_performance', 'kpi_rep_month')" %}
    {%- else %}
    {%- set marts_compared = "('kpi_rep_day', 'kpi_performance')" %}
    {%- endif %}
    {%- set mart_value = 'coalesce(mart_sums.' ~ measure ~ ', 0)' %}
    {%- set fact_value = 'coalesce(facts.' ~ measure ~ ', 0)' %}
    select
        grid.mart,
        grid.level,
        grid.month_start,
        '{{ measure }}' as measure,
        mart_sums.{{ measure }} as mart_value,
        facts.{{ measure }} as fact_value
    from grid
    cross join availability
    left join mart_sums
        on
            grid.mart = mart_sums.mart
            and grid.level = mart_sums.level
            and grid.month_start = mart_sums.month_start
    left join facts
        on grid.month_start = facts.month_start
    where
        grid.mart in {{ marts_compared }}
        and (
            -- kpi_rep_day is the additive base: its sums are never null
            (grid.mart = 'kpi_rep_day' and {{ mart_value }} != {{ fact_value }})
            or (
                grid.mart != 'kpi_rep_day'
                and {{ if_available(measure, mart_value, 'availability') }}
                is distinct from {{ if_available(measure, fact_value, 'availability') }}
            )
        )
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)
-- noqa: enable=LT02

select * from differences
