-- The first day each person appears in the facts: an activity, an opportunity created or
-- closed, an invoice or credit note as its salesperson. A rep's first team membership starts
-- there when the CRM gives no hire date (int_reps__team_history), so no fact of a rep falls
-- before the rep "exists".
with

activity_days as (
    select
        rep_id,
        activity_date as record_date
    from {{ ref('int_activities__unioned') }}
    where not is_deleted
),

opportunity_days as (
    select
        rep_id,
        {{ utc_date('created_at') }} as record_date
    from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
    union all
    select
        rep_id,
        close_date as record_date
    from {{ ref('stg_crm__opportunities') }}
    where not is_deleted and is_closed
),

invoice_days as (
    select
        rep_id,
        invoice_date as record_date
    from {{ ref('int_invoice_lines__signed') }}
    where invoice_state = 'posted'
),

record_days as (
    select * from activity_days
    union all
    select * from opportunity_days
    union all
    select * from invoice_days
),

final as (
    select
        rep_id,
        min(record_date) as first_record_date
    from record_days
    where rep_id is not null and record_date is not null
    group by rep_id
)

select * from final
