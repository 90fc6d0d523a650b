-- One row per CRM user with their role type, team, region and manager.
-- Reps and managers sit in a team role; directors sit in a region role (no team).
with

users as (
    select * from {{ ref('stg_crm__users') }}
),

roles as (
    select * from {{ ref('stg_crm__user_roles') }}
),

users_with_roles as (
    select
        users.user_id as rep_id,
        users.first_name,
        users.last_name,
        lower(trim(users.email)) as email,
        users.title,
        case users.title
            when 'Account Executive' then 'rep'
            when 'Sales Manager' then 'manager'
            when 'Sales Director' then 'director'
            else 'other'
        end as role_type,
        users.manager_user_id as manager_rep_id,
        users.hire_date,
        users.is_active,
        roles.role_level,
        case when roles.role_level = 'Team' then roles.user_role_id end as team_id,
        case when roles.role_level = 'Team' then roles.user_role_name end as team_name,
        case
            when roles.role_level = 'Team' then roles.parent_role_id
            when roles.role_level = 'Region' then roles.user_role_id
        end as region_id
    from users
    left join roles
        on users.user_role_id = roles.user_role_id
),

final as (
    select
        users_with_roles.rep_id,
        users_with_roles.first_name,
        users_with_roles.last_name,
        trim(
            coalesce(users_with_roles.first_name, '')
            || ' '
            || coalesce(users_with_roles.last_name, '')
        ) as rep_name,
        users_with_roles.email,
        users_with_roles.title,
        users_with_roles.role_type,
        users_with_roles.team_id,
        users_with_roles.team_name,
        users_with_roles.region_id,
        regions.user_role_name as region_name,
        users_with_roles.manager_rep_id,
        lower(trim(managers.email)) as manager_email,
        users_with_roles.hire_date,
        users_with_roles.is_active
    from users_with_roles
    left join roles as regions
        on users_with_roles.region_id = regions.user_role_id
    left join users as managers
        on users_with_roles.manager_rep_id = managers.user_id
)

select * from final
