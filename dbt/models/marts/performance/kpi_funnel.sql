-- sqlfluff:indentation:template_blocks_indent:False
-- (sqlfluff: the Jinja loops below write one select per period grain or level, unindented.)
-- The sales funnel: one row per level (rep, team, region, company), member, period (day, week,
-- month, quarter) and funnel stage (Prospecting .. Negotiation, Closed Won) up to the as-of
-- date. Two readings:
--   - stage cohort: opportunities that FIRST entered the stage in the period (entered), how many
--     of them went on to a later stage (advanced; Closed Lost is not a step) and the days they
--     spent in the stage before their next change (days_in_stage over exited);
--   - creation cohort: opportunities created in the period (cohort_opportunities) and how many
--     of them reached the stage (reached_from_cohort), the cumulative conversion.
-- Only each stage's first entry counts (fct_opportunity_history.is_first_entry): a deal
-- reopened after being won enters Closed Won once. Opportunities stay with the team and region
-- of their owner on the day of the stage entry (stage cohort) or of the creation (cohort);
-- without an owner or a team that day, with "(unassigned)". The funnel reads recorded stage
-- changes only (history_source 'history'): without OpportunityHistory it is empty and
-- marts.kpi_availability says why.
{%- set measures = [
    'entered', 'advanced', 'exited', 'days_in_stage', 'cohort_opportunities',
    'reached_from_cohort'
] %}
{#- a median is not a sum: computed from the opportunities' own days at every level #}
{%- set median_days_in_stage =
    'percentile_cont(0.5) within group (order by case when exited = 1 then days_in_stage end)'
%}

with

availability as (
    {{ data_availability() }}
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

history as (
    select
        opportunity_id,
        coalesce(rep_id, {{ unassigned_id() }}) as rep_id,
        coalesce(team_id, {{ unassigned_id() }}) as team_id,
        coalesce(region_id, {{ unassigned_id() }}) as region_id,
        stage_name,
        stage_order,
        is_closed_stage,
        is_first_entry,
        change_number,
        valid_from
    from {{ ref('fct_opportunity_history') }}
    where history_source = 'history' and valid_from <= {{ as_of_date() }}
),

first_entries as (
    select * from history
    where is_first_entry and stage_order is not null and stage_name != 'Closed Lost'
),

furthest_stage as (
    select
        opportunity_id,
        max(stage_order) as max_stage_order
    from first_entries
    group by opportunity_id
),

stage_visits as (
    select
        first_entries.opportunity_id,
        first_entries.rep_id,
        first_entries.team_id,
        first_entries.region_id,
        first_entries.stage_name,
        first_entries.stage_order,
        first_entries.valid_from as entered_date,
        case
            when furthest_stage.max_stage_order > first_entries.stage_order then 1 else 0
        end as advanced,
        case
            when not first_entries.is_closed_stage
                then {{ dbt.datediff('first_entries.valid_from', 'next_change.valid_from', 'day') }}
        end as days_in_stage
    from first_entries
    inner join furthest_stage
        on first_entries.opportunity_id = furthest_stage.opportunity_id
    left join history as next_change
        on
            first_entries.opportunity_id = next_change.opportunity_id
            and next_change.change_number = first_entries.change_number + 1
),

funnel_stages as (
    select distinct
        stage_name,
        stage_order
    from first_entries
),

cohorts as (
    select
        opportunity_id,
        rep_id,
        team_id,
        region_id,
        valid_from as created_date
    from history
    where change_number = 1
),

contributions as (
    {%- for grain in period_grains() %}
    select
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'entered_date') }} as period_start,
        rep_id,
        team_id,
        region_id,
        stage_name,
        stage_order,
        1 as entered,
        advanced,
        case when days_in_stage is null then 0 else 1 end as exited,
        coalesce(days_in_stage, 0) as days_in_stage,
        0 as cohort_opportunities,
        0 as reached_from_cohort
    from stage_visits
    union all
    select
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'cohorts.created_date') }} as period_start,
        cohorts.rep_id,
        cohorts.team_id,
        cohorts.region_id,
        first_entries.stage_name,
        first_entries.stage_order,
        0 as entered,
        0 as advanced,
        0 as exited,
        0 as days_in_stage,
        0 as cohort_opportunities,
        1 as reached_from_cohort
    from cohorts
    inner join first_entries
        on cohorts.opportunity_id = first_entries.opportunity_id
    union all
    -- the cohort's size, once per stage of the funnel
    select
        '{{ grain }}' as period_grain,
        {{ period_start(grain, 'cohorts.created_date') }} as period_start,
        cohorts.rep_id,
        cohorts.team_id,
        cohorts.region_id,
        funnel_stages.stage_name,
        funnel_stages.stage_order,
        0 as entered,
        0 as advanced,
        0 as exited,
        0 as days_in_stage,
        1 as cohort_opportunities,
        0 as reached_from_cohort
    from cohorts
    cross join funnel_stages
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

by_level as (
    {{ roll_up_levels(
        'contributions', measures,
        ['period_grain', 'period_start', 'stage_name', 'stage_order'],
        [('median_days_in_stage', median_days_in_stage)]
    ) }}
),

final as (
    select
        by_level.level,
        by_level.member_id,
        {{ member_name('by_level') }} as member_name,
        by_level.period_grain,
        cast(by_level.period_start as date) as period_start,
        by_level.stage_name,
        cast(by_level.stage_order as integer) as stage_order,
        {%- for measure in measures %}
        cast(by_level.{{ measure }} as integer) as {{ measure }},
        {%- endfor %}
        {%- for kpi_name in [
            'next_step_conversion', 'cumulative_conversion', 'avg_days_in_stage'
        ] %}
        {{ if_available(kpi_name, kpi(kpi_name), 'availability') }} as {{ kpi_name }},
        {%- endfor %}
        cast(by_level.median_days_in_stage as {{ type_double() }}) as median_days_in_stage,
        {{ as_of_date() }} as as_of_date
    from by_level
    cross join availability
    left join reps
        on by_level.level = 'rep' and by_level.member_id = reps.rep_id
    left join teams
        on by_level.level = 'team' and by_level.member_id = teams.team_id
    left join regions
        on by_level.level = 'region' and by_level.member_id = regions.region_id
)

select * from final
