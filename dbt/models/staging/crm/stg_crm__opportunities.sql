with

source as (
    select * from {{ source('crm', 'opportunities') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as opportunity_id,
        account_id,
        owner_id as rep_id,

        ---------- text
        name as opportunity_name,
        stage_name,
        forecast_category_name,

        ---------- numerics
        cast(amount as decimal(18, 2)) as amount,
        cast(probability as {{ type_double() }}) as probability,

        ---------- booleans
        cast(is_closed as boolean) as is_closed,
        cast(is_won as boolean) as is_won,
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(close_date as date) as close_date,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
