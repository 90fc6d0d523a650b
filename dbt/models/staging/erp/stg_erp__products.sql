with

source as (
    select * from {{ source('erp', 'products') }}
    where {{ is_source_system('erp') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by product_id order by updated_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        product_id,
        sku,

        ---------- text
        product_name,
        category,
        currency,

        ---------- numerics
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        cast(list_price as decimal(18, 2)) as list_price,

        ---------- timestamps
        updated_at,

        ---------- lineage
        _source_file as source_file
    from ranked_versions
    where version_rank = 1
)

select * from renamed
