with

source as (
    select * from {{ source('crm', 'contracts') }}
    where {{ is_source_system('crm') }}
),

latest_versions as (
    {{ latest_version('source', 'id', 'last_modified_date') }}
),

renamed as (
    select
        ---------- ids
        id as contract_id,
        contract_number,
        account_id,
        opportunity_c as opportunity_id,
        owner_id as rep_id,

        ---------- text
        status as contract_status,

        ---------- numerics
        cast(contract_term as integer) as contract_term_months,

        ---------- booleans
        cast(is_deleted as boolean) as is_deleted,

        ---------- dates and timestamps
        cast(start_date as date) as start_date,
        cast(customer_signed_date as date) as customer_signed_date,
        created_date as created_at,
        last_modified_date as last_modified_at,

        ---------- lineage
        _source_file as source_file
    from latest_versions
)

select * from renamed
