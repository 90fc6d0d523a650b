-- The current state of every CRM user: the latest of its versions (stg_crm__user_versions).
with

versions as (
    select * from {{ ref('stg_crm__user_versions') }}
),

latest_versions as (
    {{ latest_version('versions', 'user_id', 'last_modified_at') }}
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
    from latest_versions
)

select * from latest
