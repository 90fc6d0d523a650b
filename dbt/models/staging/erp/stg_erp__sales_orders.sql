with

source as (
    select * from {{ source('erp', 'sales_orders') }}
    where {{ is_source_system('erp') }}
),

latest_versions as (
    {{ latest_version('source', 'order_id', 'updated_at') }}
),

renamed as (
    select
        ---------- ids
        order_id,
        order_number,
        customer_id,
        crm_opportunity_id,

        ---------- text
        salesperson_email,
        status as order_status,
        currency,

        ---------- dates and timestamps
        cast(order_date as date) as order_date,
        updated_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
