-- Every sales activity of the CRM in one shape: calls and emails (Task), meetings (Event),
-- proposals sent, quotes and signed contracts. A Task or Event the model cannot classify (an
-- empty TaskSubtype, an Event Type other than Meeting) is kept as activity_type 'unclassified'
-- with the reason: it counts in the activities total, in no type, and is never dropped.
-- Deleted rows are kept here (is_deleted) and dropped in fct_activities.
with

tasks as (
    select
        task_id as activity_id,
        case task_subtype
            when 'Call' then 'call'
            when 'Email' then 'email'
            else 'unclassified'
        end as activity_type,
        case
            when task_subtype is null then 'Task without TaskSubtype'
            when task_subtype not in ('Call', 'Email')
                then 'Task with TaskSubtype ' || task_subtype || ' (neither Call nor Email)'
        end as unclassified_reason,
        activity_date,
        rep_id,
        'Task' as source_object,
        related_record_id,
        task_status as status,
        is_deleted
    from {{ ref('stg_crm__tasks') }}
),

meetings as (
    select
        event_id as activity_id,
        case when event_type = 'Meeting' then 'meeting' else 'unclassified' end as activity_type,
        case
            when event_type is null then 'Event without Type'
            when event_type != 'Meeting'
                then 'Event with Type ' || event_type || ' (not a Meeting)'
        end as unclassified_reason,
        activity_date,
        rep_id,
        'Event' as source_object,
        related_record_id,
        meeting_status as status,
        is_deleted
    from {{ ref('stg_crm__events') }}
),

proposals as (
    select
        proposal_id as activity_id,
        'proposal' as activity_type,
        cast(null as {{ dbt.type_string() }}) as unclassified_reason,
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
        cast(null as {{ dbt.type_string() }}) as unclassified_reason,
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
        cast(null as {{ dbt.type_string() }}) as unclassified_reason,
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
