-- One row per ERP customer, with the CRM account it is linked to (Account.AccountNumber).
with

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

ranked_accounts as (
    select
        account_id,
        account_number,
        account_name,
        industry,
        row_number() over (
            partition by account_number
            order by case when is_deleted then 1 else 0 end, account_id
        ) as account_rank
    from {{ ref('stg_crm__accounts') }}
    where account_number is not null
),

accounts as (
    select * from ranked_accounts
    where account_rank = 1
),

final as (
    select
        customers.customer_id,
        customers.customer_name,
        accounts.account_id as crm_account_id,
        accounts.account_name,
        accounts.industry,
        customers.country,
        customers.city
    from customers
    left join accounts
        on customers.crm_account_number = accounts.account_number
)

select * from final
