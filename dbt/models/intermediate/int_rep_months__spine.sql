-- One row per account executive and month, from the first month with data to the as-of
-- month, for the months the rep was hired by the end of.
with

months as (
    select distinct month_start
    from {{ ref('dim_date') }}
    where month_start <= {{ month_start(as_of_date()) }}
),

reps as (
    select * from {{ ref('int_reps__with_teams') }}
    where role_type = 'rep'
),

spine as (
    select
        months.month_start,
        reps.rep_id
    from months
    cross join reps
    where
        reps.hire_date is null
        or reps.hire_date
        < {{ dbt.dateadd('month', 1, 'months.month_start') }}
)

select * from spine
