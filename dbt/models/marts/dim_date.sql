-- One row per day from the first month of any dated record (an activity, an invoice or credit
-- note, an opportunity's creation or close, a stage change, an objective's period) to the end of
-- the as-of year (or of the year of the last dated record, if later, e.g. meetings planned next
-- year): every fact has its day, however old. A working day is Monday to Friday and not a
-- public holiday of the configured calendar (var holiday_calendar, a calendar_code of
-- seeds/holidays.csv).
with

holidays as (
    select
        holiday_date,
        min(holiday_name) as holiday_name
    from {{ ref('holidays') }}
    where calendar_code = '{{ var("holiday_calendar") }}'
    group by holiday_date
),

activities as (
    select activity_date as record_date
    from {{ ref('int_activities__unioned') }}
    where not is_deleted
),

invoices as (
    select invoice_date as record_date
    from {{ ref('int_invoice_lines__signed') }}
    where invoice_state = 'posted'
),

opportunities as (
    select {{ utc_date('created_at') }} as record_date
    from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
    union all
    select close_date as record_date
    from {{ ref('stg_crm__opportunities') }}
    where not is_deleted
),

stage_changes as (
    select {{ utc_date('stage_entered_at') }} as record_date
    from {{ ref('stg_crm__opportunity_history') }}
),

objectives as (
    select period_start as record_date
    from {{ ref('int_targets__versions') }}
    union all
    select period_end as record_date
    from {{ ref('int_targets__versions') }}
),

record_dates as (
    select record_date from activities
    union all
    select record_date from invoices
    union all
    select record_date from opportunities
    union all
    select record_date from stage_changes
    union all
    select record_date from objectives
),

data_bounds as (
    select
        min(record_date) as first_date,
        max(record_date) as last_date,
        {{ as_of_date() }} as as_of_date
    from record_dates
),

clamped_bounds as (
    select
        case
            when first_date is not null and first_date < as_of_date then first_date
            else as_of_date
        end as first_date,
        case
            when last_date is not null and last_date > as_of_date then last_date
            else as_of_date
        end as last_date
    from data_bounds
),

range_bounds as (
    select
        {{ month_start('first_date') }} as start_date,
        cast(
            {{ dbt.dateadd(
                'day', -1,
                dbt.dateadd('year', 1, dbt.date_trunc('year', 'last_date'))
            ) }} as date
        ) as end_date
    from clamped_bounds
),

days as (
    {{ date_spine(
        '(select start_date from range_bounds)',
        '(select end_date from range_bounds)'
    ) }}
),

calendar_days as (
    select
        cast(days.date_day as date) as date_day,
        holidays.holiday_name,
        {{ iso_day_of_week('days.date_day') }} in (6, 7) as is_weekend,
        holidays.holiday_date is not null as is_holiday
    from days
    left join holidays
        on cast(days.date_day as date) = holidays.holiday_date
),

final as (
    select
        date_day,
        {{ month_start('date_day') }} as month_start,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(month from date_day) as integer) as month,
        {{ iso_day_of_week('date_day') }} as day_of_week,
        is_weekend,
        is_holiday,
        holiday_name,
        not is_weekend and not is_holiday as is_working_day
    from calendar_days
)

select * from final
