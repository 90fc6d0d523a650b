-- One row per line of a posted ERP invoice or credit note. Credit notes count negative;
-- cancelled documents are excluded. The rep is the document's salesperson as
-- int_invoice_lines__signed resolves it (a CRM user, else "erp:<e-mail>"); a document without a
-- salesperson has no rep (the KPI marts show it under "(unassigned)"). The team and region are
-- the rep's ON THE DOCUMENT DATE (int_reps__team_history).
with

lines as (
    select * from {{ ref('int_invoice_lines__signed') }}
    where invoice_state = 'posted'
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

final as (
    select
        lines.invoice_line_id,
        lines.invoice_id,
        lines.invoice_number,
        lines.document_type,
        lines.invoice_date,
        {{ month_start('lines.invoice_date') }} as month_start,
        lines.customer_id,
        lines.product_id,
        lines.rep_id,
        team_history.team_id,
        team_history.region_id,
        lines.quantity,
        lines.revenue,
        lines.cost,
        cast(lines.revenue - lines.cost as decimal(18, 2)) as gross_margin
    from lines
    left join team_history
        on
            lines.rep_id = team_history.rep_id
            and lines.invoice_date >= team_history.valid_from
            and lines.invoice_date < team_history.valid_to
)

select * from final
