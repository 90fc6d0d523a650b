-- One row per sales region: the parent role of a sales team (dim_team; a team role's parent is
-- its region), and "(unassigned)", the region member of the KPI marts that takes the facts of a
-- rep without a team, or a team without a region, on the event date.
with

teams as (
    select * from {{ ref('dim_team') }}
),

team_regions as (
    -- every team of a region carries its name: one row per region
    select
        region_id,
        min(region_name) as region_name
    from teams
    where region_id is not null
    group by region_id
),

unassigned as (
    select
        {{ unassigned_id() }} as region_id,
        {{ unassigned_name() }} as region_name
),

final as (
    select * from team_regions
    union all
    select * from unassigned
)

select * from final
