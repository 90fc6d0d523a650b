-- One row per sales activity (not deleted): calls, emails, meetings (every meeting status:
-- "held only" quality rules come with challenges), proposals sent, quotes, signed contracts.
with

activities as (
    select * from {{ ref('int_activities__unioned') }}
    where not is_deleted
),

reps as (
    select * from {{ ref('dim_rep') }}
),

final as (
    select
        activities.activity_id,
        activities.activity_type,
        activities.activity_date,
        {{ month_start('activities.activity_date') }} as month_start,
        activities.rep_id,
        reps.team_id,
        activities.source_object,
        activities.related_record_id,
        activities.status
    from activities
    left join reps
        on activities.rep_id = reps.rep_id
)

select * from final
