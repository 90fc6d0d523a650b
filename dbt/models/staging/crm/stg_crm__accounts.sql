with

source as (
    select * from {{ source('crm', 'accounts') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as account_id,
        account_number,
        owner_id as rep_id,

        ---------- text
        name as account_name,
        industry,
        billing_city,
        billing_country,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- timestamps
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
