with

source as (
    select * from {{ source('erp', 'invoices') }}
    where {{ is_source_system('erp') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by invoice_id order by updated_at desc) as version_rank
    from source
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
    from ranked_versions
    where version_rank = 1
)

select * from renamed
