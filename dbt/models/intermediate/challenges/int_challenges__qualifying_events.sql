-- One row per event that counts in a challenge, by metric, after the quality rules: a call
-- completed (not still open), a meeting held (not planned, not a no-show), a quote not cancelled
-- or denied within a day of its creation, an opportunity created, a posted invoice line
-- (revenue; credit notes negative). Scored from the facts, so a challenge counts the rows the
-- KPIs count, with the rep's team on the event day. Metric values are exact decimals: a
-- standing does not depend on the order the engine adds them in.
with

activities as (
    select * from {{ ref('fct_activities') }}
),

quotes as (
    select * from {{ ref('stg_crm__quotes') }}
),

opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

revenue as (
    select * from {{ ref('fct_revenue') }}
),

done_activities as (
    -- a call once completed (not still open), a meeting once held (not planned, not a no-show)
    select
        activity_id as event_id,
        case activity_type when 'call' then 'calls_completed' else 'meetings_held' end as metric,
        activity_date as event_date,
        rep_id,
        team_id,
        cast(1 as decimal(18, 2)) as metric_value
    from activities
    where
        (activity_type = 'call' and status = 'Completed')
        or (activity_type = 'meeting' and status = 'Held')
),

standing_quotes as (
    select
        activities.activity_id as event_id,
        'standing_quotes' as metric,
        activities.activity_date as event_date,
        activities.rep_id,
        activities.team_id,
        cast(1 as decimal(18, 2)) as metric_value
    from activities
    inner join quotes
        on activities.activity_id = quotes.quote_id
    where
        activities.activity_type = 'quote'
        and not (
            quotes.quote_status in ('Denied', 'Cancelled')
            and {{ dbt.datediff('quotes.created_date', utc_date('quotes.last_modified_at'), 'day') }} <= 1  -- noqa: LT05
        )
),

new_opportunities as (
    select
        opportunity_id as event_id,
        'new_opportunities' as metric,
        created_date as event_date,
        rep_id,
        team_id,
        cast(1 as decimal(18, 2)) as metric_value
    from opportunities
),

invoiced as (
    select
        invoice_line_id as event_id,
        'revenue' as metric,
        invoice_date as event_date,
        rep_id,
        team_id,
        cast(revenue as decimal(18, 2)) as metric_value
    from revenue
    where rep_id is not null
),

unioned as (
    select * from done_activities
    union all
    select * from standing_quotes
    union all
    select * from new_opportunities
    union all
    select * from invoiced
)

select * from unioned
