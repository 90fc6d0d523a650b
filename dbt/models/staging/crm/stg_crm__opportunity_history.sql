with

source as (
    select * from {{ source('crm', 'opportunity_history') }}
    where {{ is_source_system('crm') }}
),

ranked_versions as (
    -- raw keeps every version of a record: the latest is its current state
    select
        *,
        row_number() over (partition by id order by created_date desc) as version_rank
    from source
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
    from ranked_versions
    where version_rank = 1
)

select * from renamed
