-- Every version of every CRM sales target (Sales_Target__c) with the days it is in force.
-- A version is in force from the UTC day of its LastModifiedDate (inclusive) to the
-- day of the next version (exclusive); the first version is in force from the beginning, so a
-- target entered late still covers its whole period; when a target changes twice in one day the
-- last change wins (the earlier one is in force on no day: valid_from = valid_to). The value a
-- period uses is the version in force on its reference day, the earlier of its last day and the
-- as-of date (int_targets__in_force): a revision after the period ended leaves it unchanged.
with

versions as (
    select * from {{ ref('stg_crm__sales_target_versions') }}
),

numbered as (
    select
        *,
        row_number() over (
            partition by sales_target_id
            order by last_modified_at
        ) as version_number,
        lead({{ utc_date('last_modified_at') }}) over (
            partition by sales_target_id
            order by last_modified_at
        ) as next_version_date
    from versions
),

final as (
    select
        sales_target_id,
        cast(version_number as integer) as version_number,
        target_level,
        case when target_level = 'rep' then rep_id end as rep_id,
        case when target_level = 'team' then team_id end as team_id,
        rep_id as owner_id,
        metric,
        period_type,
        period_start,
        case
            when period_type = 'quarter' then {{ period_end('quarter', 'period_start') }}
            else {{ period_end('month', 'period_start') }}
        end as period_end,
        target_value,
        is_deleted,
        case
            when version_number = 1 then cast('1900-01-01' as date)
            else {{ utc_date('last_modified_at') }}
        end as valid_from,
        coalesce(next_version_date, cast('9999-12-31' as date)) as valid_to,
        next_version_date is null as is_latest_version,
        last_modified_at
    from numbered
)

select * from final
