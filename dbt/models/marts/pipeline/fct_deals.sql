-- One row per opportunity (deleted ones excluded), in the words a sales manager reads: the deal,
-- account, rep and team names, the stage, the amount, the dates, how long it has sat in its
-- current stage and when it was last worked on. The team and the manager are the owner's
-- CURRENT ones (dim_rep, dim_team): a manager follows the deals their reps own today, and
-- rep_email / manager_email carry the row-level security. Days are counted up to the as-of date.
--   - days_in_stage: days since the current stage was entered (fct_opportunity_history's
--     current row, valid_to '9999-12-31');
--   - last_activity_date: the latest activity up to the as-of date logged on the deal itself
--     (proposals, quotes, contracts). Calls, e-mails and meetings are logged on the account, not
--     on a deal: counting them would mark no deal of a busy account as stalled, ever;
--   - is_stalled: open, no stage change for at least var('stalled_deal_days') days and no
--     activity (none at all, or the last one at least that many days ago);
--   - closes_this_month: open, with a close date in the as-of date's month.
{%- set stalled_days = var('stalled_deal_days', 21) %}

with

opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

deals as (
    select * from {{ ref('fct_opportunities') }}
),

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

teams as (
    select * from {{ ref('dim_team') }}
),

current_stages as (
    select
        opportunity_id,
        valid_from as stage_entered_date
    from {{ ref('fct_opportunity_history') }}
    where valid_to = cast('9999-12-31' as date)
),

activities as (
    select
        related_record_id,
        max(activity_date) as last_activity_date
    from {{ ref('fct_activities') }}
    where activity_date <= {{ as_of_date() }}
    group by related_record_id
),

joined as (
    select
        deals.opportunity_id,
        opportunities.opportunity_name,
        deals.account_id,
        coalesce(accounts.account_name, deals.account_id) as account_name,
        deals.rep_id,
        coalesce(reps.rep_name, {{ unassigned_name() }}) as rep_name,
        reps.team_id,
        teams.team_name,
        deals.stage_name,
        deals.forecast_category_name,
        deals.amount,
        deals.probability,
        deals.amount * coalesce(deals.probability, 0) / 100 as weighted_amount,
        deals.created_date,
        deals.close_date,
        current_stages.stage_entered_date,
        activities.last_activity_date,
        not deals.is_closed as is_open,
        deals.is_won,
        deals.is_lost,
        reps.email as rep_email,
        teams.manager_email,
        {{ as_of_date() }} as as_of_date
    from deals
    inner join opportunities
        on deals.opportunity_id = opportunities.opportunity_id
    left join accounts
        on deals.account_id = accounts.account_id
    left join reps
        on deals.rep_id = reps.rep_id
    left join teams
        on reps.team_id = teams.team_id
    left join current_stages
        on deals.opportunity_id = current_stages.opportunity_id
    left join activities
        on deals.opportunity_id = activities.related_record_id
),

measured as (
    select
        *,
        cast({{ dbt.datediff('stage_entered_date', 'as_of_date', 'day') }} as integer) as days_in_stage,  -- noqa: LT05
        cast({{ dbt.datediff('last_activity_date', 'as_of_date', 'day') }} as integer) as days_since_last_activity  -- noqa: LT05
    from joined
),

final as (
    select
        opportunity_id,
        opportunity_name,
        account_id,
        account_name,
        rep_id,
        rep_name,
        team_id,
        team_name,
        stage_name,
        forecast_category_name,
        cast(amount as decimal(18, 2)) as amount,
        probability,
        cast(weighted_amount as decimal(18, 2)) as weighted_amount,
        created_date,
        close_date,
        stage_entered_date,
        days_in_stage,
        last_activity_date,
        days_since_last_activity,
        is_open,
        is_won,
        is_lost,
        coalesce(
            is_open and {{ dbt.date_trunc('month', 'close_date') }}
            = {{ dbt.date_trunc('month', 'as_of_date') }},
            false
        ) as closes_this_month,
        coalesce(is_open and close_date < as_of_date, false) as is_overdue,
        coalesce(
            is_open
            and days_in_stage >= {{ stalled_days }}
            and coalesce(days_since_last_activity >= {{ stalled_days }}, true),
            false
        ) as is_stalled,
        rep_email,
        manager_email,
        as_of_date
    from measured
)

select * from final
