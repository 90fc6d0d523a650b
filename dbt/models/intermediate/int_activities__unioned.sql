-- Every sales activity of the CRM in one shape: calls and emails (Task), meetings (Event),
-- proposals, quotes and signed contracts. Deleted rows are kept here (is_deleted) and
-- dropped in fct_activities.
with

tasks as (
    select
        task_id as activity_id,
        case task_subtype
            when 'Call' then 'call'
            when 'Email' then 'email'
        end as activity_type,
        activity_date,
        rep_id,
        'Task' as source_object,
        related_record_id,
        task_status as status,
        is_deleted
    from {{ ref('stg_crm__tasks') }}
    where task_subtype in ('Call', 'Email')
),

meetings as (
    select
        event_id as activity_id,
        'meeting' as activity_type,
        activity_date,
        rep_id,
        'Event' as source_object,
        related_record_id,
        meeting_status as status,
        is_deleted
    from {{ ref('stg_crm__events') }}
    where event_type = 'Meeting'
),

proposals as (
    select
        proposal_id as activity_id,
        'proposal' as activity_type,
        sent_date as activity_date,
        rep_id,
        'Proposal__c' as source_object,
        opportunity_id as related_record_id,
        proposal_status as status,
        is_deleted
    from {{ ref('stg_crm__proposals') }}
    where sent_date is not null
),

quotes as (
    select
        quote_id as activity_id,
        'quote' as activity_type,
        created_date as activity_date,
        rep_id,
        'Quote' as source_object,
        opportunity_id as related_record_id,
        quote_status as status,
        is_deleted
    from {{ ref('stg_crm__quotes') }}
),

contracts as (
    select
        contract_id as activity_id,
        'contract' as activity_type,
        customer_signed_date as activity_date,
        rep_id,
        'Contract' as source_object,
        opportunity_id as related_record_id,
        contract_status as status,
        is_deleted
    from {{ ref('stg_crm__contracts') }}
    where customer_signed_date is not null
),

unioned as (
    select * from tasks
    union all
    select * from meetings
    union all
    select * from proposals
    union all
    select * from quotes
    union all
    select * from contracts
)

select * from unioned
