{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'stg_erp__invoice_lines'}}}) }}
-- Warning, not a gate: invoice lines whose invoice (or credit note) has not been delivered. Without
-- their document they have no date, state or sign, so they are not counted; they are once the
-- invoice arrives (a late file), with no reload needed.
select
    invoice_lines.invoice_line_id,
    invoice_lines.invoice_id,
    invoice_lines.net_amount,
    invoice_lines.source_file
from {{ ref('stg_erp__invoice_lines') }} as invoice_lines
left join {{ ref('stg_erp__invoices') }} as invoices
    on invoice_lines.invoice_id = invoices.invoice_id
where invoices.invoice_id is null
