with

source as (
    select * from {{ source('crm', 'sales_targets') }}
),

renamed as (
    select
        ---------- ids
        id as sales_target_id,
        owner_id as rep_id,

        ---------- text
        metric_c as metric,

        ---------- numerics
        cast(target_value_c as decimal(18, 2)) as target_value,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(period_start_c as date) as period_start,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from source
)

select * from renamed
