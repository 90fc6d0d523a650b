-- One row per ERP product.
with

products as (
    select * from {{ ref('stg_erp__products') }}
),

final as (
    select
        product_id,
        sku,
        product_name,
        category,
        unit_cost,
        list_price
    from products
)

select * from final
