-- The current state of every CRM user: the latest of its versions (stg_crm__user_versions).
with

versions as (
    select * from {{ ref('stg_crm__user_versions') }}
),

ranked_versions as (
    select
        *,
        row_number() over (partition by user_id order by last_modified_at desc) as version_rank
    from versions
),

latest as (
    select
        user_id,
        user_role_id,
        manager_user_id,
        first_name,
        last_name,
        email,
        title,
        is_active,
        hire_date,
        created_at,
        last_modified_at,
        source_file
    from ranked_versions
    where version_rank = 1
)

select * from latest
