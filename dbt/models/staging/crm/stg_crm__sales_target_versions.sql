-- Every version of every sales target (one row per target and LastModifiedDate): a target
-- revised during its period keeps its earlier values here. stg_crm__sales_targets holds the
-- latest version only.
with

source as (
    select * from {{ source('crm', 'sales_targets') }}
    where {{ is_source_system('crm') }}
),

renamed as (
    select
        ---------- ids
        id as sales_target_id,
        owner_id as rep_id,
        team_c as team_id,

        ---------- text
        target_level_c as target_level,
        period_type_c as period_type,
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
