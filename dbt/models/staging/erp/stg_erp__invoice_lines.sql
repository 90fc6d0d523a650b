with

source as (
    select * from {{ source('erp', 'invoice_lines') }}
    where {{ is_source_system('erp') }}
),

latest_versions as (
    {{ latest_version('source', 'invoice_line_id', 'updated_at') }}
),

renamed as (
    select
        ---------- ids
        invoice_line_id,
        invoice_id,
        product_id,

        ---------- numerics
        cast(quantity as decimal(18, 3)) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(discount_pct as {{ type_double() }}) as discount_pct,
        cast(net_amount as decimal(18, 2)) as net_amount,
        cast(unit_cost as decimal(18, 2)) as unit_cost,

        ---------- timestamps
        updated_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
