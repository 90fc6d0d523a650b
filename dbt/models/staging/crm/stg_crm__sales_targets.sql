-- The current state of every sales target: the latest of its versions
-- (stg_crm__sales_target_versions).
with

versions as (
    select * from {{ ref('stg_crm__sales_target_versions') }}
),

ranked_versions as (
    select
        *,
        row_number() over (
            partition by sales_target_id order by last_modified_at desc
        ) as version_rank
    from versions
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
    from ranked_versions
    where version_rank = 1
)

select * from latest
