with

source as (
    select * from {{ source('erp', 'sales_orders') }}
    where {{ is_source_system('erp') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by order_id order by updated_at desc) as version_rank
    from source
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
    from ranked_versions
    where version_rank = 1
)

select * from renamed
