-- One row per sales target that is in force for its period as of the as-of date: the version
-- valid on the period's reference day (the earlier of its last day and the as-of date), when that
-- version is not deleted. A period that has not started uses the version valid on the as-of date.
with

versions as (
    select * from {{ ref('int_targets__versions') }}
),

reference_days as (
    select
        *,
        case
            when period_end < {{ as_of_date() }} then period_end
            else {{ as_of_date() }}
        end as reference_day
    from versions
),

final as (
    select
        sales_target_id,
        version_number,
        target_level,
        rep_id,
        team_id,
        metric,
        period_type,
        period_start,
        period_end,
        target_value
    from reference_days
    where
        valid_from <= reference_day
        and reference_day < valid_to
        and not is_deleted
)

select * from final
