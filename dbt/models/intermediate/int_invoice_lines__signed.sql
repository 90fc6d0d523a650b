-- Invoice lines with their document, signed: credit notes (move_type out_refund) count
-- negative. All states are kept here; fct_revenue keeps posted documents only. The rep is the
-- CRM user whose e-mail is the document's salesperson e-mail (case-insensitive,
-- int_reps__by_email), else the ERP salesperson itself (rep id "erp:<e-mail>"); a document
-- without a salesperson has no rep.
with

invoices as (
    select * from {{ ref('stg_erp__invoices') }}
),

by_email as (
    select * from {{ ref('int_reps__by_email') }}
),

lines as (
    select * from {{ ref('stg_erp__invoice_lines') }}
),

joined as (
    select
        lines.invoice_line_id,
        lines.invoice_id,
        invoices.invoice_number,
        invoices.move_type,
        case invoices.move_type
            when 'out_refund' then 'credit_note'
            else 'invoice'
        end as document_type,
        case invoices.move_type
            when 'out_refund' then -1
            else 1
        end as amount_sign,
        invoices.invoice_state,
        invoices.invoice_date,
        invoices.customer_id,
        lines.product_id,
        lower(trim(invoices.salesperson_email)) as salesperson_email,
        lines.quantity,
        lines.net_amount,
        lines.unit_cost
    from lines
    inner join invoices
        on lines.invoice_id = invoices.invoice_id
),

attributed as (
    select
        joined.*,
        case
            when by_email.rep_id is not null then by_email.rep_id
            when joined.salesperson_email != ''
                then {{ erp_salesperson_id('joined.salesperson_email') }}
        end as rep_id
    from joined
    left join by_email
        on joined.salesperson_email = by_email.user_email
),

signed as (
    select
        invoice_line_id,
        invoice_id,
        invoice_number,
        move_type,
        document_type,
        invoice_state,
        invoice_date,
        customer_id,
        product_id,
        salesperson_email,
        rep_id,
        cast(amount_sign * quantity as decimal(18, 3)) as quantity,
        cast(amount_sign * net_amount as decimal(18, 2)) as revenue,
        cast(amount_sign * quantity * unit_cost as decimal(18, 2)) as cost
    from attributed
)

select * from signed
