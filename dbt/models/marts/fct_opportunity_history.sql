-- One row per stage change of an opportunity (OpportunityHistory; deleted opportunities
-- excluded), with the day range it was the opportunity's state: valid_from is the UTC day of
-- the change, valid_to (exclusive) the day of the next change ('9999-12-31' for the current
-- state). When several changes share a day, the last one is the state at the end of that day
-- (the earlier ones get an empty range). The funnel counts each stage's FIRST entry only
-- (is_first_entry), so a deal that re-enters a stage (reopened) is not counted twice.
-- An opportunity without any stage history (a CRM export without OpportunityHistory) gets its
-- history from its current state (history_source 'opportunity'): open from its creation day
-- (at its current stage if still open, else at an unknown stage) and, when closed, closed on its
-- close date. The pipeline on any day then counts it; the funnel does not (no stage changes).
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

recorded as (
    select
        history.opportunity_history_id,
        history.opportunity_id,
        history.stage_name,
        history.amount,
        history.probability,
        history.close_date,
        history.stage_entered_at,
        -- closed: a standard closed stage, or the stage a closed opportunity is at now (another
        -- CRM's closed stage name, e.g. 'Closed - Lost to Competitor')
        (
            history.stage_name in ('Closed Won', 'Closed Lost')
            or (
                coalesce(opportunities.is_closed, false)
                and history.stage_name = opportunities.stage_name
            )
        ) as is_closed_stage,
        'history' as history_source
    from history
    inner join opportunities
        on history.opportunity_id = opportunities.opportunity_id
),

with_history as (
    select distinct opportunity_id from recorded
),

without_history as (
    select opportunities.*
    from opportunities
    left join with_history
        on opportunities.opportunity_id = with_history.opportunity_id
    where with_history.opportunity_id is null
),

derived as (
    -- open since creation: at the current stage if still open (the only stage known)
    select
        opportunity_id || ':created' as opportunity_history_id,
        opportunity_id,
        case when not is_closed then stage_name end as stage_name,
        amount,
        case when not is_closed then probability end as probability,
        close_date,
        created_at as stage_entered_at,
        false as is_closed_stage,
        'opportunity' as history_source
    from without_history
    union all
    -- closed on the close date (never before the creation)
    select
        opportunity_id || ':closed' as opportunity_history_id,
        opportunity_id,
        stage_name,
        amount,
        probability,
        close_date,
        case
            when close_date is null or {{ utc_date('created_at') }} > close_date then created_at
            else cast(close_date as {{ type_timestamp_tz() }})
        end as stage_entered_at,
        true as is_closed_stage,
        'opportunity' as history_source
    from without_history
    where is_closed
),

changes as (
    select * from recorded
    union all
    select * from derived
),

ordered as (
    select
        changes.opportunity_history_id,
        changes.opportunity_id,
        opportunities.rep_id,
        changes.stage_name,
        -- the funnel's stage order; a stage outside it (another CRM's configuration) has none
        case changes.stage_name
            when 'Prospecting' then 1
            when 'Qualification' then 2
            when 'Proposal' then 3
            when 'Negotiation' then 4
            when 'Closed Won' then 5
            when 'Closed Lost' then 5
        end as stage_order,
        changes.is_closed_stage,
        changes.amount,
        changes.probability,
        changes.close_date,
        changes.stage_entered_at,
        changes.history_source,
        {{ utc_date('changes.stage_entered_at') }} as valid_from,
        row_number() over (
            partition by changes.opportunity_id
            order by changes.stage_entered_at, changes.opportunity_history_id
        ) as change_number,
        row_number() over (
            partition by changes.opportunity_id, changes.stage_name
            order by changes.stage_entered_at, changes.opportunity_history_id
        ) as stage_entry_number
    from changes
    inner join opportunities
        on changes.opportunity_id = opportunities.opportunity_id
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
        ranged.history_source,
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
