with

source as (
    select * from {{ source('erp', 'customers') }}
    where {{ is_source_system('erp') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by customer_id order by updated_at desc) as version_rank
    from source
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
    from ranked_versions
    where version_rank = 1
)

select * from renamed
