with

source as (
    select * from {{ source('erp', 'sales_order_lines') }}
    where {{ is_source_system('erp') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by order_line_id order by updated_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        order_line_id,
        order_id,
        product_id,

        ---------- numerics
        cast(quantity as decimal(18, 3)) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(discount_pct as {{ type_double() }}) as discount_pct,

        ---------- timestamps
        updated_at,

        ---------- lineage
        _source_file as source_file
    from ranked_versions
    where version_rank = 1
)

select * from renamed
