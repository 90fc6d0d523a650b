-- One CRM user per e-mail address (lower-cased, trimmed): the user an ERP document's salesperson
-- e-mail means. Two users sharing an address (a re-hired rep, a duplicated user) resolve to the
-- active one, then the most recently modified, then the lowest id: one invoice line, one rep.
with

users as (
    select * from {{ ref('stg_crm__users') }}
    where email is not null and trim(email) != ''
),

ranked as (
    select
        lower(trim(email)) as user_email,
        user_id as rep_id,
        row_number() over (
            partition by lower(trim(email))
            order by
                case when is_active then 0 else 1 end asc, last_modified_at desc, user_id asc
        ) as email_rank
    from users
),

final as (
    select
        user_email,
        rep_id
    from ranked
    where email_rank = 1
)

select * from final
