with

source as (
    select * from {{ source('crm', 'user_roles') }}
    where {{ is_source_system('crm') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by id order by last_modified_date desc) as version_rank
    from source
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
    from ranked_versions
    where version_rank = 1
)

select * from renamed
