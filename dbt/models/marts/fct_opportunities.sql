-- One row per opportunity (deleted ones excluded) with its current state. A deal counts as won
-- or lost once, on its close date, from its CURRENT stage: a deal reopened after being won is
-- won again only if it is closed won now, never twice. The team and region are the owner's on
-- the creation day (new opportunities) and on the close day (won and lost deals).
with

opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

dated as (
    select
        opportunity_id,
        account_id,
        rep_id,
        stage_name,
        forecast_category_name,
        amount,
        probability,
        is_closed,
        is_won,
        {{ utc_date('created_at') }} as created_date,
        close_date
    from opportunities
),

final as (
    select
        dated.opportunity_id,
        dated.account_id,
        dated.rep_id,
        created_team.team_id,
        created_team.region_id,
        closed_team.team_id as close_team_id,
        closed_team.region_id as close_region_id,
        dated.stage_name,
        dated.forecast_category_name,
        dated.amount,
        dated.probability,
        dated.is_closed,
        dated.is_won,
        dated.is_closed and not dated.is_won as is_lost,
        dated.created_date,
        dated.close_date,
        cast(
            case
                when dated.is_closed
                    then {{ dbt.datediff('dated.created_date', 'dated.close_date', 'day') }}
            end as integer
        ) as cycle_days
    from dated
    left join team_history as created_team
        on
            dated.rep_id = created_team.rep_id
            and dated.created_date >= created_team.valid_from
            and dated.created_date < created_team.valid_to
    left join team_history as closed_team
        on
            dated.rep_id = closed_team.rep_id
            and dated.close_date >= closed_team.valid_from
            and dated.close_date < closed_team.valid_to
)

select * from final
