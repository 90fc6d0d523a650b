{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}
-- Warning, not a gate: facts the model cannot attribute to a person or to a team. They are
-- counted (under the member "(unassigned)" of the rep, team or region level, so every level
-- still adds up to the company) and listed here with the reason: an activity or deal without
-- an owner, an invoice without a salesperson, a fact dated on a day its rep was in no team
-- (before the hire date, after leaving, a rep in no team role). Fix the CRM (owners, hire
-- dates, roles) or the ERP (salesperson e-mails) and the next refresh moves them.
with

facts as (
    select
        'fct_activities' as fact,
        activity_id as record_id,
        activity_date as event_date,
        rep_id,
        team_id
    from {{ ref('fct_activities') }}
    union all
    select
        'fct_opportunities' as fact,
        opportunity_id as record_id,
        created_date as event_date,
        rep_id,
        team_id
    from {{ ref('fct_opportunities') }}
    union all
    select
        'fct_revenue' as fact,
        invoice_line_id as record_id,
        invoice_date as event_date,
        rep_id,
        team_id
    from {{ ref('fct_revenue') }}
)

select
    fact,
    record_id,
    event_date,
    rep_id,
    case
        when rep_id is null then 'no owner or salesperson: counted under rep (unassigned)'
        else 'the rep was in no team that day: counted under team (unassigned)'
    end as reason
from facts
where rep_id is null or team_id is null
