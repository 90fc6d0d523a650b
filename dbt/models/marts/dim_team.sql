-- One row per sales team (a CRM role with RollupDescription 'Team').
with

roles as (
    select * from {{ ref('stg_crm__user_roles') }}
),

users as (
    select * from {{ ref('int_reps__with_teams') }}
),

-- The team's manager: its active Sales Manager first, then the lowest id (deterministic).
ranked_managers as (
    select
        team_id,
        rep_id,
        rep_name,
        email,
        row_number() over (
            partition by team_id
            order by case when is_active then 0 else 1 end, rep_id
        ) as manager_rank
    from users
    where role_type = 'manager' and team_id is not null
),

managers as (
    select * from ranked_managers
    where manager_rank = 1
),

final as (
    select
        teams.user_role_id as team_id,
        teams.user_role_name as team_name,
        teams.parent_role_id as region_id,
        regions.user_role_name as region_name,
        managers.rep_id as manager_rep_id,
        managers.rep_name as manager_name,
        managers.email as manager_email
    from roles as teams
    left join roles as regions
        on teams.parent_role_id = regions.user_role_id
    left join managers
        on teams.user_role_id = managers.team_id
    where teams.role_level = 'Team'
)

select * from final
