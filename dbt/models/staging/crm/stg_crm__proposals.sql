with

source as (
    select * from {{ source('crm', 'proposals') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as proposal_id,
        opportunity_c as opportunity_id,
        owner_id as rep_id,

        ---------- text
        name as proposal_name,
        status_c as proposal_status,

        ---------- numerics
        cast(amount_c as decimal(18, 2)) as amount,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(sent_date_c as date) as sent_date,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
