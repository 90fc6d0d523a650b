with

source as (
    select * from {{ source('crm', 'opportunity_history') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'created_date') }}
),

renamed as (
    select
        ---------- ids
        id as opportunity_history_id,
        opportunity_id,

        ---------- text
        stage_name,

        ---------- numerics
        cast(amount as decimal(18, 2)) as amount,
        cast(probability as {{ type_double() }}) as probability,

        ---------- dates and timestamps
        cast(close_date as date) as close_date,
        created_date as stage_entered_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
