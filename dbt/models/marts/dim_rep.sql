-- One row per person facts are attributed to: every CRM user (account executives, managers,
-- directors, other titles) with their current team, region and manager; an owner id that no
-- delivered user carries ("Unknown user <id>"); an ERP salesperson whose e-mail no CRM user has
-- (rep id "erp:<e-mail>"); and the member "(unassigned)" that takes facts without an owner.
-- Nothing a fact points at is missing here, so every rep-level figure has a name.
with

crm_users as (
    select * from {{ ref('int_reps__with_teams') }}
),

owner_ids as (
    select rep_id from {{ ref('int_activities__unioned') }}
    where not is_deleted
    union
    select rep_id from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

unknown_owners as (
    select owner_ids.rep_id
    from owner_ids
    left join crm_users
        on owner_ids.rep_id = crm_users.rep_id
    where owner_ids.rep_id is not null and crm_users.rep_id is null
),

erp_salespeople as (
    select distinct
        invoice_lines.rep_id,
        invoice_lines.salesperson_email as email
    from {{ ref('int_invoice_lines__signed') }} as invoice_lines
    left join crm_users
        on invoice_lines.rep_id = crm_users.rep_id
    where
        invoice_lines.invoice_state = 'posted'
        and invoice_lines.rep_id is not null
        and crm_users.rep_id is null
),

-- the people the CRM's users do not cover
other_people as (
    select
        rep_id,
        'Unknown user ' || rep_id as rep_name,
        cast(null as {{ dbt.type_string() }}) as email,
        'crm_owner_not_delivered' as rep_source
    from unknown_owners
    union all
    select
        rep_id,
        email as rep_name,
        email,
        'erp_salesperson' as rep_source
    from erp_salespeople
    union all
    select
        {{ unassigned_id() }} as rep_id,
        {{ unassigned_name() }} as rep_name,
        cast(null as {{ dbt.type_string() }}) as email,
        'none' as rep_source
),

people as (
    select
        rep_id,
        rep_name,
        email,
        title,
        role_type,
        team_id,
        team_name,
        region_name,
        manager_rep_id,
        manager_email,
        hire_date,
        is_active,
        'crm_user' as rep_source
    from crm_users
    union all
    select
        rep_id,
        rep_name,
        email,
        cast(null as {{ dbt.type_string() }}) as title,
        case when rep_source = 'none' then 'unassigned' else 'unknown' end as role_type,
        cast(null as {{ dbt.type_string() }}) as team_id,
        cast(null as {{ dbt.type_string() }}) as team_name,
        cast(null as {{ dbt.type_string() }}) as region_name,
        cast(null as {{ dbt.type_string() }}) as manager_rep_id,
        cast(null as {{ dbt.type_string() }}) as manager_email,
        cast(null as date) as hire_date,
        cast(null as boolean) as is_active,
        rep_source
    from other_people
),

final as (
    select * from people
)

select * from final
