-- One row per challenge (seed generated from challenges/*.yml), with the replayed period when
-- the var challenge_replay names it (`pilotage challenges replay`: a past period, before launch).
{%- set replay = var('challenge_replay', none) or {} %}

with

definitions as (
    select * from {{ ref('challenge_definitions') }}
),

replayed as (
    select
        challenge_id,
        label as challenge_label,
        participant_type,
        scoring,
        round_grain,
        {%- if replay %}
            challenge_id = '{{ replay.challenge }}' as is_replay,
            case when challenge_id = '{{ replay.challenge }}'
                then cast('{{ replay.period_start }}' as date)
                else period_start
            end as period_start,
            case when challenge_id = '{{ replay.challenge }}'
                then cast('{{ replay.period_end }}' as date)
                else period_end
            end as period_end,
            {%- for bound in ('baseline_start', 'baseline_end') %}
                case when challenge_id = '{{ replay.challenge }}'
                    then {{ "cast('" ~ replay[bound] ~ "' as date)" if replay[bound] else 'null' }}
                    else {{ bound }}
                end as {{ bound }},
            {%- endfor %}
        {%- else %}
            false as is_replay,
            period_start,
            period_end,
            baseline_start,
            baseline_end,
        {%- endif %}
        goal_points
    from definitions
),

final as (
    select
        *,
        {{ dbt.datediff('baseline_start', 'baseline_end', 'day') }} + 1 as baseline_days  -- noqa: LT05
    from replayed
)

select * from final
