-- One row per challenge and participant: total points over the started rounds, rank (ties share
-- a rank: 1, 1, 3), the highest badge earned, and the share of the challenge's total points
-- (for a company challenge: each rep's contribution to the collective goal and its progress),
-- and what the dashboard shows beside them: live or finished, days left, the badge's medal, the
-- rep's e-mail (to find "me") and team.
with

definitions as (
    select * from {{ ref('int_challenges__definitions') }}
),

participants as (
    select * from {{ ref('int_challenges__participants') }}
),

scores as (
    select * from {{ ref('fct_challenge_scores') }}
),

badges as (
    select * from {{ ref('challenge_badges') }}
),

reps as (
    select * from {{ ref('dim_rep') }}
),

badge_tiers as (
    -- a challenge's badges from the top: the highest is gold, then silver, then bronze
    select
        challenge_id,
        badge,
        row_number() over (partition by challenge_id order by min_points desc) as badge_tier
    from badges
),

totals as (
    select
        participants.challenge_id,
        participants.participant_id,
        participants.participant_type,
        participants.participant_name,
        -- points are rounded to 6 decimals per row: summed as exact decimals
        coalesce(sum(cast(scores.points as decimal(38, 6))), 0) as total_points
    from participants
    left join scores
        on
            participants.challenge_id = scores.challenge_id
            and participants.participant_id = scores.participant_id
    group by
        participants.challenge_id,
        participants.participant_id,
        participants.participant_type,
        participants.participant_name
),

best_badges as (
    select
        totals.challenge_id,
        totals.participant_id,
        badges.badge,
        badges.label as badge_label,
        row_number() over (
            partition by totals.challenge_id, totals.participant_id
            order by badges.min_points desc
        ) as badge_rank
    from totals
    inner join badges
        on
            totals.challenge_id = badges.challenge_id
            and totals.total_points >= badges.min_points
),

ranked as (
    select
        totals.*,
        rank() over (
            partition by totals.challenge_id order by totals.total_points desc
        ) as standing_rank,
        count(*) over (partition by totals.challenge_id) as participants_count,
        sum(totals.total_points) over (partition by totals.challenge_id) as challenge_points
    from totals
),

final as (
    select
        ranked.challenge_id,
        definitions.challenge_label,
        ranked.participant_id,
        ranked.participant_type,
        ranked.participant_name,
        definitions.scoring,
        definitions.period_start,
        definitions.period_end,
        {{ as_of_date() }} between definitions.period_start and definitions.period_end as is_live,
        definitions.is_replay,
        cast(ranked.total_points as {{ type_double() }}) as total_points,
        cast(ranked.standing_rank as integer) as standing_rank,
        cast(ranked.participants_count as integer) as participants_count,
        best_badges.badge,
        best_badges.badge_label,
        cast(ranked.challenge_points as {{ type_double() }}) as challenge_points,
        -- quotients of doubles: a decimal(38, 6) quotient keeps only 6 decimals on Spark
        cast(ranked.total_points as {{ type_double() }})
        / nullif(cast(ranked.challenge_points as {{ type_double() }}), 0) as contribution_share,
        cast(definitions.goal_points as {{ type_double() }}) as goal_points,
        cast(ranked.challenge_points as {{ type_double() }})
        / nullif(cast(definitions.goal_points as {{ type_double() }}), 0) as goal_progress,
        case
            when {{ as_of_date() }} < definitions.period_start then 'upcoming'
            when {{ as_of_date() }} > definitions.period_end then 'finished'
            else 'live'
        end as challenge_status,
        -- the days after the as-of day still to play (0 once the last day is in the data)
        cast(
            case
                when definitions.period_end > {{ as_of_date() }}
                    then {{ dbt.datediff(as_of_date(), 'definitions.period_end', 'day') }}
                else 0
            end as integer
        ) as days_left,
        ranked.challenge_points >= definitions.goal_points as is_goal_reached,
        case
            when badge_tiers.badge_tier = 1 then '🥇'
            when badge_tiers.badge_tier = 2 then '🥈'
            when badge_tiers.badge_tier = 3 then '🥉'
            when badge_tiers.badge_tier > 3 then '🏅'
        end as badge_icon,
        -- a rep's own e-mail and current team; a team's own name
        reps.email as participant_email,
        case
            when ranked.participant_type = 'teams' then ranked.participant_name
            else reps.team_name
        end as team_name
    from ranked
    inner join definitions
        on ranked.challenge_id = definitions.challenge_id
    left join best_badges
        on
            ranked.challenge_id = best_badges.challenge_id
            and ranked.participant_id = best_badges.participant_id
            and best_badges.badge_rank = 1
    left join badge_tiers
        on
            best_badges.challenge_id = badge_tiers.challenge_id
            and best_badges.badge = badge_tiers.badge
    left join reps
        on ranked.participant_type != 'teams' and ranked.participant_id = reps.rep_id
)

select * from final
