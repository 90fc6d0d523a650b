{{ config(meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}
-- Nothing is lost between staging (the latest version of every delivered record, rename and
-- cast only) and the facts (a blocking gate). Counts and amounts per source object:
--   - fct_activities: every Task and Event (classified or not), every sent Proposal__c, every
--     Quote, every signed Contract, deleted ones excluded;
--   - fct_opportunities and fct_opportunity_history: every opportunity and stage change of a
--     not deleted opportunity;
--   - fct_revenue: every line of a posted invoice or credit note, signed (a line whose invoice
--     was not delivered cannot be dated or signed: tests/warnings lists it).
-- Returns one row per difference.
{%- set activity_objects = [
    ('Task', 'stg_crm__tasks', 'true'),
    ('Event', 'stg_crm__events', 'true'),
    ('Proposal__c', 'stg_crm__proposals', 'sent_date is not null'),
    ('Quote', 'stg_crm__quotes', 'true'),
    ('Contract', 'stg_crm__contracts', 'customer_signed_date is not null'),
] %}

with

staged_activities as (
    {% for object_name, model, counted in activity_objects %}
        select
            '{{ object_name }}' as source_object,
            count(*) as staged_rows,
            0 as staged_amount
        from {{ ref(model) }}
        where not is_deleted and {{ counted }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

opportunities as (
    select
        'Opportunity' as source_object,
        count(*) as staged_rows,
        sum(amount) as staged_amount
    from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

stage_changes as (
    select
        'OpportunityHistory' as source_object,
        count(*) as staged_rows,
        0 as staged_amount
    from {{ ref('stg_crm__opportunity_history') }} as history
    inner join {{ ref('stg_crm__opportunities') }} as opportunity
        on history.opportunity_id = opportunity.opportunity_id
    where not opportunity.is_deleted
),

invoice_lines as (
    select
        'invoice_lines' as source_object,
        count(*) as staged_rows,
        sum(
            case
                when invoices.move_type = 'out_refund' then -invoice_line.net_amount
                else invoice_line.net_amount
            end
        ) as staged_amount
    from {{ ref('stg_erp__invoice_lines') }} as invoice_line
    inner join {{ ref('stg_erp__invoices') }} as invoices
        on invoice_line.invoice_id = invoices.invoice_id
    where invoices.invoice_state = 'posted'
),

staged as (
    select * from staged_activities
    union all
    select * from opportunities
    union all
    select * from stage_changes
    union all
    select * from invoice_lines
),

fact_activities as (
    select
        source_object,
        count(*) as fact_rows,
        0 as fact_amount
    from {{ ref('fct_activities') }}
    group by source_object
),

fact_opportunities as (
    select
        'Opportunity' as source_object,
        count(*) as fact_rows,
        sum(amount) as fact_amount
    from {{ ref('fct_opportunities') }}
),

fact_stage_changes as (
    select
        'OpportunityHistory' as source_object,
        count(*) as fact_rows,
        0 as fact_amount
    from {{ ref('fct_opportunity_history') }}
    where history_source = 'history'
),

fact_invoice_lines as (
    select
        'invoice_lines' as source_object,
        count(*) as fact_rows,
        sum(revenue) as fact_amount
    from {{ ref('fct_revenue') }}
),

facts as (
    select * from fact_activities
    union all
    select * from fact_opportunities
    union all
    select * from fact_stage_changes
    union all
    select * from fact_invoice_lines
),

compared as (
    select
        coalesce(staged.source_object, facts.source_object) as source_object,
        coalesce(staged.staged_rows, 0) as staged_rows,
        coalesce(facts.fact_rows, 0) as fact_rows,
        coalesce(staged.staged_amount, 0) as staged_amount,
        coalesce(facts.fact_amount, 0) as fact_amount
    from staged
    full outer join facts
        on staged.source_object = facts.source_object
)

select * from compared
where staged_rows != fact_rows or staged_amount != fact_amount
