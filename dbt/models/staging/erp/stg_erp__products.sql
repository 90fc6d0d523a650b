with

source as (
    select * from {{ source('erp', 'products') }}
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
    from source
)

select * from renamed
