-- One row per CRM user (account executives, managers, directors): the sales people
-- KPIs are attributed to, with their current team, region and manager.
with

reps as (
    select * from {{ ref('int_reps__with_teams') }}
),

final as (
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
        is_active
    from reps
)

select * from final
