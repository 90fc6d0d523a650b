-- One row per sales activity (not deleted): calls, emails, meetings (every meeting status:
-- "held only" quality rules come with challenges), proposals sent, quotes, signed contracts,
-- and the Tasks and Events the model cannot classify (activity_type 'unclassified', with the
-- reason): counted in the activities total, never dropped.
-- The team and region are the owner's ON THE ACTIVITY DATE (int_reps__team_history), so
-- activities stay with the team the rep belonged to that day.
with

activities as (
    select * from {{ ref('int_activities__unioned') }}
    where not is_deleted
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

final as (
    select
        activities.activity_id,
        activities.activity_type,
        activities.unclassified_reason,
        activities.activity_date,
        {{ month_start('activities.activity_date') }} as month_start,
        activities.rep_id,
        team_history.team_id,
        team_history.region_id,
        activities.source_object,
        activities.related_record_id,
        activities.status
    from activities
    left join team_history
        on
            activities.rep_id = team_history.rep_id
            and activities.activity_date >= team_history.valid_from
            and activities.activity_date < team_history.valid_to
)

select * from final
