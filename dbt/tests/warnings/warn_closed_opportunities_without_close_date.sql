{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_opportunities'}}}) }}
-- Warning, not a gate: closed opportunities without a CloseDate. A won or lost deal is counted on
-- its close date; without one it cannot be placed in a period and is not counted as won or lost
-- (it still counts as created). Fill CloseDate in the CRM.
select
    opportunity_id,
    rep_id,
    stage_name,
    amount
from {{ ref('fct_opportunities') }}
where is_closed and close_date is null
