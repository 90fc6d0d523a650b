-- Every version of every CRM user (one row per user and LastModifiedDate): the history of
-- role (team), title and manager changes. stg_crm__users keeps the latest version only.
with

source as (
    select * from {{ source('crm', 'users') }}
    where {{ is_source_system('crm') }}
),

renamed as (
    select
        ---------- ids
        id as user_id,
        user_role_id,
        manager_id as manager_user_id,

        ---------- text
        first_name,
        last_name,
        email,
        title,

        ---------- booleans
        cast(is_active as boolean) as is_active,

        ---------- dates and timestamps
        cast(hire_date_c as date) as hire_date,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from source
)

select * from renamed
