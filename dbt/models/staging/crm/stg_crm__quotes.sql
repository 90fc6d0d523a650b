with

source as (
    select * from {{ source('crm', 'quotes') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as quote_id,
        opportunity_id,
        owner_id as rep_id,

        ---------- text
        name as quote_name,
        status as quote_status,

        ---------- numerics
        cast(total_price as decimal(18, 2)) as total_price,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(expiration_date as date) as expiration_date,
        created_date as created_at,
        {{ utc_date('created_date') }} as created_date,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
