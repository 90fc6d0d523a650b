-- The current state of every sales target: the latest of its versions
-- (stg_crm__sales_target_versions).
with

versions as (
    select * from {{ ref('stg_crm__sales_target_versions') }}
),

latest_versions as (
    {{ latest_version('versions', 'sales_target_id', 'last_modified_at') }}
),

latest as (
    select
        sales_target_id,
        rep_id,
        target_level,
        team_id,
        period_type,
        metric,
        period_start,
        target_value,
        is_deleted,
        created_at,
        last_modified_at,
        source_file
    from latest_versions
)

select * from latest
