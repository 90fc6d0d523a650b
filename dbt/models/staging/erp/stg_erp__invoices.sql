with

source as (
    select * from {{ source('erp', 'invoices') }}
    where {{ is_source_system('erp') }}
),

latest_versions as (
    {{ latest_version('source', 'invoice_id', 'updated_at') }}
),

renamed as (
    select
        ---------- ids
        invoice_id,
        invoice_number,
        customer_id,
        order_id,
        reversed_invoice_id,

        ---------- text
        move_type,
        salesperson_email,
        state as invoice_state,
        currency,

        ---------- dates and timestamps
        cast(invoice_date as date) as invoice_date,
        updated_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
