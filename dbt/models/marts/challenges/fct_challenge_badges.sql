-- One row per badge earned: every badge of a challenge whose threshold a participant's total
-- points reach (a gold medallist also holds silver and bronze).
with

standings as (
    select * from {{ ref('fct_challenge_standings') }}
),

badges as (
    select * from {{ ref('challenge_badges') }}
),

final as (
    select
        standings.challenge_id,
        standings.participant_id,
        standings.participant_name,
        badges.badge,
        badges.label as badge_label,
        cast(badges.min_points as {{ type_double() }}) as min_points,
        standings.total_points
    from standings
    inner join badges
        on
            standings.challenge_id = badges.challenge_id
            and standings.total_points >= badges.min_points
)

select * from final
