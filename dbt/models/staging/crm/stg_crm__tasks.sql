with

source as (
    select * from {{ source('crm', 'tasks') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as task_id,
        owner_id as rep_id,
        what_id as related_record_id,

        ---------- text
        subject,
        task_subtype,
        status as task_status,

        ---------- numerics
        cast(call_duration_in_seconds as integer) as call_duration_seconds,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(activity_date as date) as activity_date,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
