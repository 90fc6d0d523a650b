with

source as (
    select * from {{ source('erp', 'customers') }}
    where {{ is_source_system('erp') }}
),

latest_versions as (
    {{ latest_version('source', 'customer_id', 'updated_at') }}
),

renamed as (
    select
        ---------- ids
        customer_id,
        crm_account_number,

        ---------- text
        customer_name,
        country,
        city,

        ---------- timestamps
        created_at,
        updated_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
