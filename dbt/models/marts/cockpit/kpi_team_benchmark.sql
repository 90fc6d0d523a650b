-- The benchmark a sales manager compares their team with: one row per level (team, region,
-- company), member and period (week, month, quarter) up to the as-of date, aggregates only
-- (never a rep's row), so every business role may read it whole (superset/roles.yaml public).
--   - revenue, activities, meetings held, won amount, open pipeline: kpi_performance's row of
--     the member (a region or the company includes the facts of people in no team);
--   - revenue target, revenue to date against it, prorated target: the teams' own revenue
--     objectives (kpi_objectives, level team, months and quarters; none for weeks), summed over
--     a region's teams and the company's; attainment = objective actual / target and pace =
--     objective actual / prorated target to date, over the teams that have a target;
--   - activities per rep: activities / the reps (account executives) with a row that period.
with

performance as (
    select * from {{ ref('kpi_performance') }}
    where period_grain in ('week', 'month', 'quarter')
),

teams as (
    select * from {{ ref('dim_team') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

team_objectives as (
    select
        objectives.member_id as team_id,
        teams.region_id,
        objectives.period_grain,
        objectives.period_start,
        objectives.target,
        objectives.actual,
        objectives.prorated_target_to_date
    from {{ ref('kpi_objectives') }} as objectives
    inner join teams
        on objectives.member_id = teams.team_id
    where
        objectives.level = 'team'
        and objectives.metric = 'revenue'
        and objectives.target is not null
),

objectives_by_member as (
    select
        'team' as level,  -- noqa: RF04
        team_id as member_id,
        period_grain,
        period_start,
        target,
        actual,
        prorated_target_to_date
    from team_objectives
    union all
    select
        'region' as level,  -- noqa: RF04
        region_id as member_id,
        period_grain,
        period_start,
        sum(target) as target,  -- noqa: RF04
        sum(actual) as actual,
        sum(prorated_target_to_date) as prorated_target_to_date
    from team_objectives
    group by region_id, period_grain, period_start
    union all
    select
        'company' as level,  -- noqa: RF04
        'company' as member_id,
        period_grain,
        period_start,
        sum(target) as target,  -- noqa: RF04
        sum(actual) as actual,
        sum(prorated_target_to_date) as prorated_target_to_date
    from team_objectives
    group by period_grain, period_start
),

-- the account executives of each team and region that period (kpi_performance rep rows: one
-- per person and period, with the person's current team)
headcount as (
    select
        reps.team_id,
        teams.region_id,
        performance.period_grain,
        performance.period_start,
        count(*) as reps
    from performance
    inner join reps
        on performance.member_id = reps.rep_id
    inner join teams
        on reps.team_id = teams.team_id
    where performance.level = 'rep' and reps.role_type = 'rep'
    group by reps.team_id, teams.region_id, performance.period_grain, performance.period_start
),

headcount_by_member as (
    select
        'team' as level,  -- noqa: RF04
        team_id as member_id,
        period_grain,
        period_start,
        sum(reps) as reps
    from headcount
    group by team_id, period_grain, period_start
    union all
    select
        'region' as level,  -- noqa: RF04
        region_id as member_id,
        period_grain,
        period_start,
        sum(reps) as reps
    from headcount
    group by region_id, period_grain, period_start
    union all
    select
        'company' as level,  -- noqa: RF04
        'company' as member_id,
        period_grain,
        period_start,
        sum(reps) as reps
    from headcount
    group by period_grain, period_start
),

final as (
    select
        performance.level,
        performance.member_id,
        performance.member_name,
        performance.period_grain,
        performance.period_start,
        performance.period_end,
        performance.is_current_period,
        performance.revenue,
        cast(objectives.target as decimal(18, 2)) as revenue_target,
        cast(objectives.actual as decimal(18, 2)) as revenue_against_target,
        cast(objectives.prorated_target_to_date as decimal(18, 2)) as prorated_target_to_date,
        {{ round_ratio('objectives.actual / nullif(objectives.target, 0)') }} as attainment,
        {{ round_ratio(
            'objectives.actual / nullif(objectives.prorated_target_to_date, 0)'
        ) }} as pace,
        performance.won_amount,
        performance.open_pipeline,
        performance.activities,
        performance.meetings_held,
        cast(headcount.reps as integer) as reps,
        {{ round_ratio(
            'cast(performance.activities as ' ~ type_double() ~ ') / nullif(headcount.reps, 0)'
        ) }} as activities_per_rep,
        performance.as_of_date
    from performance
    left join objectives_by_member as objectives
        on
            performance.level = objectives.level
            and performance.member_id = objectives.member_id
            and performance.period_grain = objectives.period_grain
            and performance.period_start = objectives.period_start
    left join headcount_by_member as headcount
        on
            performance.level = headcount.level
            and performance.member_id = headcount.member_id
            and performance.period_grain = headcount.period_grain
            and performance.period_start = headcount.period_start
    where performance.level != 'rep'
)

select * from final
