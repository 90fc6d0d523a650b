with

source as (
    select * from {{ source('erp', 'products') }}
    where {{ is_source_system('erp') }}
),

latest_versions as (
    {{ latest_version('source', 'product_id', 'updated_at') }}
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
    from latest_versions
)

select * from renamed
