with

source as (
    select * from {{ source('erp', 'customers') }}
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
    from source
)

select * from renamed
