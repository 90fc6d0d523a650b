with

source as (
    select * from {{ source('crm', 'user_roles') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as user_role_id,
        parent_role_id,

        ---------- text
        name as user_role_name,
        rollup_description as role_level,

        ---------- timestamps
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
