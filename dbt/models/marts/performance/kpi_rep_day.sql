-- The additive base of the performance KPIs: one row per person (dim_rep) and day up to the
-- as-of date, with the team and region the person belonged to THAT DAY (int_reps__team_history)
-- and the day's counts and amounts. Every fact dated on or before the as-of date is here, once:
-- an account executive has a row for every day they are in a team (zero days included), any
-- other person (a manager who sells, an owner id no delivered user carries, an ERP salesperson
-- unknown to the CRM) on the days of their facts, and the facts of nobody (no owner, no
-- salesperson) go to the rep "(unassigned)". A day without a team is team and region
-- "(unassigned)". So every level, summed, is the company. Every KPI of kpi_performance is a
-- ratio of sums of these columns: never an average of ratios. Events dated after the as-of date
-- (meetings planned) are not counted.
with

days as (
    select * from {{ ref('dim_date') }}
    where date_day <= {{ as_of_date() }}
),

account_executives as (
    select * from {{ ref('dim_rep') }}
    where role_type = 'rep'
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

activities as (
    select
        coalesce(rep_id, {{ unassigned_id() }}) as rep_id,
        activity_date as date_day,
        {{ kpi('calls') }} as calls,
        {{ kpi('calls_completed') }} as calls_completed,
        {{ kpi('emails') }} as emails,
        {{ kpi('meetings') }} as meetings,
        {{ kpi('meetings_held') }} as meetings_held,
        {{ kpi('proposals') }} as proposals,
        {{ kpi('quotes') }} as quotes,
        {{ kpi('contracts') }} as contracts,
        {{ kpi('activities') }} as activities
    from {{ ref('fct_activities') }}
    where activity_date <= {{ as_of_date() }}
    group by coalesce(rep_id, {{ unassigned_id() }}), activity_date
),

new_opportunities as (
    select
        coalesce(rep_id, {{ unassigned_id() }}) as rep_id,
        created_date as date_day,
        {{ kpi('new_opportunities') }} as new_opportunities
    from {{ ref('fct_opportunities') }}
    where created_date <= {{ as_of_date() }}
    group by coalesce(rep_id, {{ unassigned_id() }}), created_date
),

closed_opportunities as (
    select
        coalesce(rep_id, {{ unassigned_id() }}) as rep_id,
        close_date as date_day,
        {{ kpi('won_opportunities') }} as won_opportunities,
        {{ kpi('lost_opportunities') }} as lost_opportunities,
        {{ kpi('won_amount') }} as won_amount,
        {{ kpi('lost_amount') }} as lost_amount,
        {{ kpi('won_cycle_days') }} as won_cycle_days
    from {{ ref('fct_opportunities') }}
    where is_closed and close_date <= {{ as_of_date() }}
    group by coalesce(rep_id, {{ unassigned_id() }}), close_date
),

revenue as (
    select
        coalesce(rep_id, {{ unassigned_id() }}) as rep_id,
        invoice_date as date_day,
        {{ kpi('quantity') }} as quantity,
        {{ kpi('revenue') }} as revenue,
        {{ kpi('cost') }} as cost,
        {{ kpi('gross_margin') }} as gross_margin
    from {{ ref('fct_revenue') }}
    where invoice_date <= {{ as_of_date() }}
    group by coalesce(rep_id, {{ unassigned_id() }}), invoice_date
),

-- every account executive on every day they are in a team, and whoever has a fact that day
person_days as (
    select
        team_history.rep_id,
        days.date_day
    from team_history
    inner join account_executives
        on team_history.rep_id = account_executives.rep_id
    inner join days
        on
            team_history.valid_from <= days.date_day
            and team_history.valid_to > days.date_day
    union
    select
        rep_id,
        date_day
    from activities
    union
    select
        rep_id,
        date_day
    from new_opportunities
    union
    select
        rep_id,
        date_day
    from closed_opportunities
    union
    select
        rep_id,
        date_day
    from revenue
),

final as (
    select
        cast(person_days.date_day as date) as date_day,
        person_days.rep_id,
        coalesce(team_history.team_id, {{ unassigned_id() }}) as team_id,
        coalesce(team_history.region_id, {{ unassigned_id() }}) as region_id,
        days.is_working_day,
        cast(coalesce(activities.calls, 0) as integer) as calls,
        cast(coalesce(activities.calls_completed, 0) as integer) as calls_completed,
        cast(coalesce(activities.emails, 0) as integer) as emails,
        cast(coalesce(activities.meetings, 0) as integer) as meetings,
        cast(coalesce(activities.meetings_held, 0) as integer) as meetings_held,
        cast(coalesce(activities.proposals, 0) as integer) as proposals,
        cast(coalesce(activities.quotes, 0) as integer) as quotes,
        cast(coalesce(activities.contracts, 0) as integer) as contracts,
        cast(coalesce(activities.activities, 0) as integer) as activities,
        cast(coalesce(new_opportunities.new_opportunities, 0) as integer) as new_opportunities,
        cast(coalesce(closed_opportunities.won_opportunities, 0) as integer)
            as won_opportunities,
        cast(coalesce(closed_opportunities.lost_opportunities, 0) as integer)
            as lost_opportunities,
        cast(coalesce(closed_opportunities.won_amount, 0) as decimal(18, 2)) as won_amount,
        cast(coalesce(closed_opportunities.lost_amount, 0) as decimal(18, 2)) as lost_amount,
        cast(coalesce(closed_opportunities.won_cycle_days, 0) as integer) as won_cycle_days,
        cast(coalesce(revenue.quantity, 0) as decimal(18, 3)) as quantity,
        cast(coalesce(revenue.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(revenue.cost, 0) as decimal(18, 2)) as cost,
        cast(coalesce(revenue.gross_margin, 0) as decimal(18, 2)) as gross_margin
    from person_days
    inner join days
        on person_days.date_day = days.date_day
    left join team_history
        on
            person_days.rep_id = team_history.rep_id
            and person_days.date_day >= team_history.valid_from
            and person_days.date_day < team_history.valid_to
    left join activities
        on person_days.rep_id = activities.rep_id and person_days.date_day = activities.date_day
    left join new_opportunities
        on
            person_days.rep_id = new_opportunities.rep_id
            and person_days.date_day = new_opportunities.date_day
    left join closed_opportunities
        on
            person_days.rep_id = closed_opportunities.rep_id
            and person_days.date_day = closed_opportunities.date_day
    left join revenue
        on person_days.rep_id = revenue.rep_id and person_days.date_day = revenue.date_day
)

select * from final
