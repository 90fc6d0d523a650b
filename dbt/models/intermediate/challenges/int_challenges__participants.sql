-- One row per challenge and participant: the account executives (participant_type reps or
-- company) or the teams (teams) in a sales team at some point of the challenge period, up to the
-- as-of day. A participant with no qualifying event still takes part, with 0 points.
with

definitions as (
    select * from {{ ref('int_challenges__definitions') }}
),

team_history as (
    select * from {{ ref('int_reps__team_history') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

teams as (
    select * from {{ ref('dim_team') }}
),

members as (
    select distinct
        definitions.challenge_id,
        definitions.participant_type,
        case
            when definitions.participant_type = 'teams' then team_history.team_id
            else team_history.rep_id
        end as participant_id
    from definitions
    inner join team_history
        on
            definitions.period_end >= team_history.valid_from
            and definitions.period_start < team_history.valid_to
            and team_history.valid_from <= {{ as_of_date() }}
),

final as (
    select
        members.challenge_id,
        members.participant_id,
        members.participant_type,
        coalesce(reps.rep_name, teams.team_name) as participant_name
    from members
    left join reps
        on members.participant_type != 'teams' and members.participant_id = reps.rep_id
    left join teams
        on members.participant_type = 'teams' and members.participant_id = teams.team_id
    -- individual challenges are for account executives, as the KPIs (not their managers)
    where members.participant_type = 'teams' or reps.role_type = 'rep'
)

select * from final
