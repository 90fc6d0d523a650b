-- One row per stage change of an opportunity (OpportunityHistory; deleted opportunities
-- excluded), with the day range it was the opportunity's state: valid_from is the UTC day of
-- the change, valid_to (exclusive) the day of the next change ('9999-12-31' for the current
-- state). When several changes share a day, the last one is the state at the end of that day
-- (the earlier ones get an empty range). The funnel counts each stage's FIRST entry only
-- (is_first_entry), so a deal that re-enters a stage (reopened) is not counted twice.
with

history as (
    select * from {{ ref('stg_crm__opportunity_history') }}
),

opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

ordered as (
    select
        history.opportunity_history_id,
        history.opportunity_id,
        opportunities.rep_id,
        history.stage_name,
        -- the funnel's stage order; a stage outside it (another CRM's configuration) has none
        case history.stage_name
            when 'Prospecting' then 1
            when 'Qualification' then 2
            when 'Proposal' then 3
            when 'Negotiation' then 4
            when 'Closed Won' then 5
            when 'Closed Lost' then 5
        end as stage_order,
        history.stage_name in ('Closed Won', 'Closed Lost') as is_closed_stage,
        history.amount,
        history.probability,
        history.close_date,
        history.stage_entered_at,
        {{ utc_date('history.stage_entered_at') }} as valid_from,
        row_number() over (
            partition by history.opportunity_id
            order by history.stage_entered_at, history.opportunity_history_id
        ) as change_number,
        row_number() over (
            partition by history.opportunity_id, history.stage_name
            order by history.stage_entered_at, history.opportunity_history_id
        ) as stage_entry_number
    from history
    inner join opportunities
        on history.opportunity_id = opportunities.opportunity_id
),

ranged as (
    select
        *,
        coalesce(
            lead(valid_from) over (partition by opportunity_id order by change_number),
            cast('9999-12-31' as date)
        ) as valid_to
    from ordered
),

final as (
    select
        ranged.opportunity_history_id,
        ranged.opportunity_id,
        ranged.rep_id,
        team_history.team_id,
        team_history.region_id,
        ranged.stage_name,
        cast(ranged.stage_order as integer) as stage_order,
        ranged.is_closed_stage,
        ranged.stage_entry_number = 1 as is_first_entry,
        cast(ranged.change_number as integer) as change_number,
        ranged.amount,
        ranged.probability,
        ranged.close_date,
        ranged.stage_entered_at,
        cast(ranged.valid_from as date) as valid_from,
        cast(ranged.valid_to as date) as valid_to
    from ranged
    left join team_history
        on
            ranged.rep_id = team_history.rep_id
            and ranged.valid_from >= team_history.valid_from
            and ranged.valid_from < team_history.valid_to
)

select * from final
