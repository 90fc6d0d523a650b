-- One row per challenge, participant, round (started by the as-of day) and metric: the metric's
-- qualifying total, what it is compared with, the score, the score after the cap and the points.
-- Scoring rules (docs/challenges.md):
--   absolute           score = the metric's total
--   percent_of_target  score = 100 * total / the participant's sales target of the round
--                      (no target or a zero target: no score, 0 points)
--   improvement        score = 100 * (total / baseline expected - 1), the baseline expected being
--                      the baseline period's total scaled to the round's length (no baseline
--                      activity: no score, 0 points)
-- A score is never negative; the cap (if any) bounds it; points = capped score * weight.
with

definitions as (
    select * from {{ ref('int_challenges__definitions') }}
),

rounds as (
    select * from {{ ref('int_challenges__rounds') }}
),

metrics as (
    select * from {{ ref('challenge_metrics') }}
),

participants as (
    select * from {{ ref('int_challenges__participants') }}
),

events as (
    select * from {{ ref('int_challenges__qualifying_events') }}
),

targets as (
    select * from {{ ref('stg_crm__sales_targets') }}
    where not is_deleted
),

grid as (
    -- every participant x started round x metric: a round without events scores 0
    select
        participants.challenge_id,
        participants.participant_id,
        participants.participant_type,
        definitions.scoring,
        definitions.round_grain,
        definitions.baseline_days,
        rounds.round_number,
        rounds.round_start,
        rounds.round_end,
        rounds.round_days,
        metrics.metric,
        metrics.target_metric,
        cast(metrics.weight as {{ type_double() }}) as weight,
        cast(metrics.cap as {{ type_double() }}) as cap
    from participants
    inner join definitions
        on participants.challenge_id = definitions.challenge_id
    inner join rounds
        on participants.challenge_id = rounds.challenge_id
    inner join metrics
        on participants.challenge_id = metrics.challenge_id
    where rounds.round_start <= {{ as_of_date() }}
),

attributed_events as (
    -- an event counts for its rep, or for the rep's team on the event day in a team challenge
    select
        definitions.challenge_id,
        case
            when definitions.participant_type = 'teams' then events.team_id
            else events.rep_id
        end as participant_id,
        events.metric,
        events.event_date,
        events.metric_value
    from events
    inner join definitions
        on
            events.event_date
            between coalesce(definitions.baseline_start, definitions.period_start)
            and definitions.period_end
),

round_totals as (
    select
        grid.challenge_id,
        grid.participant_id,
        grid.round_number,
        grid.metric,
        sum(attributed_events.metric_value) as metric_value
    from grid
    inner join attributed_events
        on
            grid.challenge_id = attributed_events.challenge_id
            and grid.participant_id = attributed_events.participant_id
            and grid.metric = attributed_events.metric
            and attributed_events.event_date between grid.round_start and grid.round_end
    group by grid.challenge_id, grid.participant_id, grid.round_number, grid.metric
),

baseline_totals as (
    select
        attributed_events.challenge_id,
        attributed_events.participant_id,
        attributed_events.metric,
        sum(attributed_events.metric_value) as baseline_value
    from attributed_events
    inner join definitions
        on attributed_events.challenge_id = definitions.challenge_id
    where
        attributed_events.event_date
        between definitions.baseline_start and definitions.baseline_end
    group by
        attributed_events.challenge_id,
        attributed_events.participant_id,
        attributed_events.metric
),

participant_targets as (
    select
        target_level,
        period_type,
        metric,
        period_start,
        case when target_level = 'team' then team_id else rep_id end as participant_id,
        cast(sum(target_value) as {{ type_double() }}) as target_value
    from targets
    group by
        target_level,
        period_type,
        metric,
        period_start,
        case when target_level = 'team' then team_id else rep_id end
),

compared as (
    select
        grid.*,
        coalesce(round_totals.metric_value, 0) as metric_value,
        case
            when grid.scoring = 'percent_of_target' then participant_targets.target_value
            when grid.scoring = 'improvement'
                then
                    coalesce(baseline_totals.baseline_value, 0) * grid.round_days
                    / grid.baseline_days
        end as reference_value
    from grid
    left join round_totals
        on
            grid.challenge_id = round_totals.challenge_id
            and grid.participant_id = round_totals.participant_id
            and grid.round_number = round_totals.round_number
            and grid.metric = round_totals.metric
    left join baseline_totals
        on
            grid.challenge_id = baseline_totals.challenge_id
            and grid.participant_id = baseline_totals.participant_id
            and grid.metric = baseline_totals.metric
    left join participant_targets
        on
            grid.scoring = 'percent_of_target'
            and grid.participant_id = participant_targets.participant_id
            and participant_targets.target_level
            = case when grid.participant_type = 'teams' then 'team' else 'rep' end
            and grid.round_grain = participant_targets.period_type
            and grid.target_metric = participant_targets.metric
            and grid.round_start = participant_targets.period_start
),

raw_scores as (
    select
        *,
        case
            when scoring = 'absolute' then metric_value
            when scoring = 'percent_of_target'
                then 100 * metric_value / nullif(reference_value, 0)
            when scoring = 'improvement'
                then 100 * (metric_value / nullif(reference_value, 0) - 1)
        end as raw_score
    from compared
),

scored as (
    select
        *,
        case when raw_score < 0 then 0 else raw_score end as score
    from raw_scores
),

capped as (
    select
        *,
        case when cap is not null and score > cap then cap else score end as capped_score
    from scored
),

final as (
    select
        challenge_id,
        participant_id,
        participant_type,
        cast(round_number as integer) as round_number,
        round_start,
        round_end,
        metric,
        cast(metric_value as {{ type_double() }}) as metric_value,
        cast(reference_value as {{ type_double() }}) as reference_value,
        cast(score as {{ type_double() }}) as score,
        cast(capped_score as {{ type_double() }}) as capped_score,
        cap,
        weight,
        {{ round_ratio('coalesce(capped_score, 0) * weight') }} as points
    from capped
)

select * from final
