-- a table, not a view: eight models read it, and it scans every fact for first records
{{ config(materialized='table') }}
-- One row per rep (CRM user in a team role) and period of team membership, from the user's
-- versions: a version takes effect on the UTC day of its LastModifiedDate (the last version of a
-- day wins), consecutive versions in the same team are one period. The first period starts
-- earlier than the first version: at the hire date when there is one and it is earlier; without
-- a hire date, at the user's earliest known record (its CreatedDate, its first version, its first
-- fact: int_reps__first_records), so an export whose user rows all carry the drop's timestamp
-- still puts a rep's history with the rep's team. valid_to is exclusive; '9999-12-31' on the
-- current period.
with

versions as (
    select * from {{ ref('stg_crm__user_versions') }}
),

roles as (
    select * from {{ ref('stg_crm__user_roles') }}
),

current_users as (
    select * from {{ ref('stg_crm__users') }}
),

first_records as (
    select * from {{ ref('int_reps__first_records') }}
),

dated_versions as (
    select
        user_id as rep_id,
        user_role_id,
        last_modified_at,
        {{ utc_date('last_modified_at') }} as effective_date
    from versions
),

last_version_of_day as (
    select
        rep_id,
        user_role_id,
        effective_date,
        row_number() over (
            partition by rep_id, effective_date
            order by last_modified_at desc
        ) as version_of_day
    from dated_versions
),

team_versions as (
    select
        last_version_of_day.rep_id,
        last_version_of_day.effective_date,
        case when roles.role_level = 'Team' then roles.user_role_id end as team_id
    from last_version_of_day
    left join roles
        on last_version_of_day.user_role_id = roles.user_role_id
    where last_version_of_day.version_of_day = 1
),

changes as (
    -- a period starts at a rep's first version and wherever the team differs from the previous
    -- version's (a null team, e.g. a move to a region role, is a gap between periods)
    select
        rep_id,
        effective_date,
        team_id,
        case
            when
                lag(effective_date) over (partition by rep_id order by effective_date) is not null
                and coalesce(
                    lag(team_id) over (partition by rep_id order by effective_date), ''
                ) = coalesce(team_id, '')
                then 0
            else 1
        end as starts_period
    from team_versions
),

numbered as (
    select
        rep_id,
        effective_date,
        team_id,
        sum(starts_period) over (
            partition by rep_id
            order by effective_date
            rows between unbounded preceding and current row
        ) as period_number
    from changes
),

periods as (
    select
        rep_id,
        period_number,
        min(team_id) as team_id,
        min(effective_date) as first_version_date
    from numbered
    group by rep_id, period_number
),

bounded as (
    select
        periods.rep_id,
        periods.team_id,
        case
            when periods.period_number > 1 then periods.first_version_date
            when current_users.hire_date is not null
                then least(current_users.hire_date, periods.first_version_date)
            else
                least(
                    periods.first_version_date,
                    coalesce(
                        {{ utc_date('current_users.created_at') }}, periods.first_version_date
                    ),
                    coalesce(first_records.first_record_date, periods.first_version_date)
                )
        end as valid_from,
        coalesce(
            lead(periods.first_version_date) over (
                partition by periods.rep_id
                order by periods.period_number
            ),
            cast('9999-12-31' as date)
        ) as valid_to
    from periods
    left join current_users
        on periods.rep_id = current_users.user_id
    left join first_records
        on periods.rep_id = first_records.rep_id
),

final as (
    select
        bounded.rep_id,
        bounded.team_id,
        teams.user_role_name as team_name,
        teams.parent_role_id as region_id,
        regions.user_role_name as region_name,
        cast(bounded.valid_from as date) as valid_from,
        cast(bounded.valid_to as date) as valid_to,
        bounded.valid_to = cast('9999-12-31' as date) as is_current
    from bounded
    inner join roles as teams
        on bounded.team_id = teams.user_role_id
    left join roles as regions
        on teams.parent_role_id = regions.user_role_id
)

select * from final
