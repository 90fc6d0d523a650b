-- sqlfluff:indentation:template_blocks_indent:False
-- One row per person, team and month up to the as-of month: the activity volumes, revenue and
-- margin of kpi_rep_day summed by month with the team of each event's day (a rep who moves
-- mid-month has a row per team, as in kpi_performance and kpi_objectives), and the rep's revenue
-- objective and pacing for those days in that team, read from kpi_objectives (one definition of
-- target, attainment, pace and status). A KPI the company's data cannot give is null. Two flags
-- keep trends honest: is_complete_month (the month ended before the as-of month) and
-- has_revenue_history (from the month of the company's first revenue on: before it, revenue 0
-- means the ERP history had not started, not that nothing was sold).
{%- set counts = [
    'calls', 'emails', 'meetings', 'proposals', 'quotes', 'contracts', 'activities'
] %}
{%- set amounts = ['revenue', 'cost', 'gross_margin'] %}

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

revenue_objectives as (
    select * from {{ ref('kpi_objectives') }}
    where level = 'rep' and metric = 'revenue' and period_grain = 'month'
),

revenue_history as (
    select min({{ month_start('date_day') }}) as first_revenue_month
    from rep_days
    where revenue <> 0
),

months as (
    select
        {{ month_start('date_day') }} as month_start,
        rep_id,
        team_id,
        region_id,
        sum(calls) as calls,
        sum(emails) as emails,
        sum(meetings) as meetings,
        sum(proposals) as proposals,
        sum(quotes) as quotes,
        sum(contracts) as contracts,
        sum(activities) as activities,
        sum(quantity) as quantity,
        sum(revenue) as revenue,
        sum(cost) as cost,
        sum(gross_margin) as gross_margin
    from rep_days
    group by {{ month_start('date_day') }}, rep_id, team_id, region_id
),

joined as (
    select
        months.*,
        availability.*,
        revenue_history.first_revenue_month,
        reps.rep_name,
        reps.email as rep_email,
        teams.team_name,
        teams.region_name,
        -- row-level security: the manager of the row's team (a mover's old months belong to the
        -- old team's manager); without a team, the rep's own manager
        coalesce(teams.manager_email, reps.manager_email) as manager_email,
        objectives.target as revenue_target,
        objectives.attainment,
        objectives.working_days,
        objectives.elapsed_working_days,
        objectives.prorated_target_to_date,
        objectives.pace,
        objectives.status
    from months
    cross join availability
    cross join revenue_history
    left join reps
        on months.rep_id = reps.rep_id
    left join teams
        on months.team_id = teams.team_id
    left join revenue_objectives as objectives
        on
            months.rep_id = objectives.member_id
            and months.team_id = objectives.team_id
            and months.month_start = objectives.period_start
),

final as (
    select
        cast(month_start as date) as month_start,
        rep_id,
        rep_name,
        rep_email,
        team_id,
        case
            when team_id = {{ unassigned_id() }} then {{ unassigned_name() }} else team_name
        end as team_name,
        case
            when region_id = {{ unassigned_id() }} then {{ unassigned_name() }} else region_name
        end as region_name,
        manager_email,
        {%- for measure in counts %}
        cast({{ if_available(measure, measure) }} as integer) as {{ measure }},
        {%- endfor %}
        cast({{ if_available('quantity', 'quantity') }} as decimal(18, 3)) as quantity,
        {%- for measure in amounts %}
        cast({{ if_available(measure, measure) }} as decimal(18, 2)) as {{ measure }},
        {%- endfor %}
        {{ if_available('margin_pct', kpi('margin_pct')) }} as margin_pct,
        cast(revenue_target as decimal(18, 2)) as revenue_target,
        attainment,
        cast(working_days as integer) as working_days,
        cast(elapsed_working_days as integer) as elapsed_working_days,
        cast(prorated_target_to_date as decimal(18, 2)) as prorated_target_to_date,
        pace,
        coalesce(status, 'no target') as status,
        month_start < {{ month_start(as_of_date()) }} as is_complete_month,
        coalesce(month_start >= first_revenue_month, false) as has_revenue_history,
        {{ as_of_date() }} as as_of_date
    from joined
)

select * from final
