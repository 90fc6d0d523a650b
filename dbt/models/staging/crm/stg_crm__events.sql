with

source as (
    select * from {{ source('crm', 'events') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as event_id,
        owner_id as rep_id,
        what_id as related_record_id,

        ---------- text
        subject,
        type as event_type,
        meeting_status_c as meeting_status,

        ---------- numerics
        cast(duration_in_minutes as integer) as duration_minutes,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(activity_date as date) as activity_date,
        start_date_time as starts_at,
        end_date_time as ends_at,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
