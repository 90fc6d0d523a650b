{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_opportunity_history'}}}) }}
-- Warning, not a gate: stage names outside the funnel's stages (Prospecting, Qualification,
-- Proposal, Negotiation, Closed Won, Closed Lost), e.g. a CRM's own stage configuration. Their
-- deals count in the pipeline (open, unless it is the closed deal's current stage), in created,
-- won and lost, but not in the funnel's conversion. Map them to the funnel's stages
-- (docs/crm_mappings.md) to get the funnel. One row per stage name, with how many changes.
select
    stage_name,
    history_source,
    count(*) as stage_changes,
    count(distinct opportunity_id) as opportunities
from {{ ref('fct_opportunity_history') }}
where stage_order is null and stage_name is not null
group by stage_name, history_source
